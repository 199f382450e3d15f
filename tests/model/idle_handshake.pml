/* tests/model/idle_handshake.pml — the idle/wake handshake of
 * include/jiffy/detail/idle.hpp and worker.hpp (worker_idle, stop_spinning),
 * checked for lost wake-ups with spin.
 *
 * What is modelled: NWORKERS workers that take work from a shared count of
 * runnable fibers and, finding none, park: list themselves as sleepers under
 * idle_lock, look for work one last time, and wait on their sleep word
 * (futex_wait); a producer that makes NWORK fibers runnable one by one and
 * after each calls wake_idle_if_needed (wake one sleeper unless a worker is
 * already spinning); and the spinning hand-off (a woken worker is spinning
 * until it finds work or parks; the last spinner to find work wakes the
 * next). Each Promela statement is atomic and sequentially consistent: the
 * store_load_barrier() on each side of the handshake is what makes the
 * real code behave so (idle.hpp explains why seq_cst accesses alone are not
 * enough under qemu).
 *
 * The property: the system never comes to rest (every process blocked or
 * done: `timeout`) while runnable work remains. A worker blocked in its
 * futex wait is a valid end state (label end_sleep) only because the check
 * process asserts that no work is left then.
 *
 * Mutations, each of which the check must catch (tests/model/check.sh
 * runs them): -DBUG_NO_LAST_LOOK (park without the last look for work) and
 * -DBUG_LOOK_BEFORE_LISTING (look, then list as a sleeper). The spinner
 * hand-off is for parallelism, not for safety: without it
 * (-DBUG_NO_SPINNER_HANDOFF) the model still loses no work, because the
 * spinner that found work keeps taking more; spin confirms that too.
 */

#define NWORKERS 2
#define NWORK 3

byte work = 0;       /* runnable fibers (any queue) */
byte produced = 0;
byte sleepers = 0;   /* rt->sleepers */
byte spinning = 0;   /* rt->spinning */
bool in_idle[NWORKERS];
bool sleep_word[NWORKERS];
bool is_spinning[NWORKERS];
bool idle_lock = false;

inline lock_idle() { atomic { !idle_lock -> idle_lock = true } }
inline unlock_idle() { idle_lock = false }

/* wake_worker_locked: off the list, then end its sleep. */
inline wake_worker_locked(i) {
  in_idle[i] = false;
  sleepers--;
  sleep_word[i] = true
}

/* wake_one_idle: any listed worker (the real code takes the list's back). */
inline wake_one_idle() {
  lock_idle();
  if
  :: in_idle[0] -> is_spinning[0] = true; spinning++; wake_worker_locked(0)
  :: in_idle[1] -> is_spinning[1] = true; spinning++; wake_worker_locked(1)
  :: else -> skip
  fi;
  unlock_idle()
}

/* wake_idle_if_needed: after publishing work (barrier, then look). */
inline wake_idle_if_needed() {
  if
  :: sleepers > 0 && spinning == 0 -> wake_one_idle()
  :: else -> skip
  fi
}

active proctype producer() {
  do
  :: produced < NWORK -> work++; produced++; wake_idle_if_needed()
  :: else -> break
  od
}

proctype worker(byte i) {
  bool found;
  bool last;
end_loop:
  do
  :: /* find_work */
     atomic {
       if
       :: work > 0 -> work--; found = true
       :: else -> found = false
       fi
     };
     /* stop_spinning(w, found) */
     if
     :: is_spinning[i] ->
        is_spinning[i] = false;
        atomic { spinning--; last = (spinning == 0) };
#ifndef BUG_NO_SPINNER_HANDOFF
        if
        :: last && found -> wake_idle_if_needed()
        :: else -> skip
        fi
#endif
     :: else -> skip
     fi;
     if
     :: found -> skip  /* runs the fiber, then looks again */
     :: else ->
        /* worker_idle */
#ifdef BUG_LOOK_BEFORE_LISTING
        found = (work > 0);
#endif
        lock_idle();
        sleep_word[i] = false;
        in_idle[i] = true;
        sleepers++;
        unlock_idle();
        /* store_load_barrier(), then the last look */
#if !defined(BUG_NO_LAST_LOOK) && !defined(BUG_LOOK_BEFORE_LISTING)
        found = (work > 0);
#endif
        if
        :: found -> skip
        :: else ->
end_sleep:
           sleep_word[i]  /* futex_wait(&sleep_word, 0): blocks while it is 0 */
        fi;
        lock_idle();
        if
        :: in_idle[i] -> in_idle[i] = false; sleepers--
        :: else -> skip
        fi;
        unlock_idle()
     fi
  od
}

init {
  atomic {
    run worker(0);
    run worker(1)
  }
}

/* At rest, nothing runnable may be left: that would be a lost wake-up. */
active proctype check() {
  timeout -> assert(work == 0)
}
