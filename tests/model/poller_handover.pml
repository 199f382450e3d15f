/* tests/model/poller_handover.pml — handing the netpoller over between
 * include/jiffy/detail/worker.hpp (worker_idle), netpoll_run.hpp
 * (netpoll_block, netpoll_claim_for_look, netpoll_release_after_look) and
 * idle.hpp (wake_worker_locked), checked with spin for readiness nobody
 * sees.
 *
 * What is modelled: an idle worker that lists itself as a sleeper and then
 * either takes the poller (busy) and blocks in it until readiness or an
 * interrupt, or, finding it taken, sleeps on its futex word; a busy worker
 * (or the monitor) that takes the poller for a non-blocking look, consumes
 * any readiness, gives the poller back and, if someone sleeps, wakes one
 * (which sets its sleep word and interrupts its poll if it is polling); and
 * the network, which makes a descriptor ready once, at any moment. The
 * woken worker goes idle again, as the real one does after finding no work.
 *
 * The property: the system never comes to rest with readiness that nobody
 * consumed — the "workers idle, poller free, event unseen" hang that the
 * hand-over exists to prevent (net_test: "workers that went idle while the
 * poller was taken for a look are not left without a poller").
 *
 * Mutation the check must catch: -DBUG_NO_WAKE_AFTER_LOOK (the look gives
 * the poller back without waking a sleeper).
 */

bool busy = false;      /* rt->poller.busy */
bool polling = false;   /* w->polling */
bool sleep_word = false;
bool listed = false;    /* in the idle list */
bool interrupted = false;  /* the eventfd written */
bool event = false;     /* readiness not yet consumed */
byte sleepers = 0;
byte looks = 0;

inline wake_listed_worker() {
  atomic {
    if
    :: listed -> listed = false; sleepers--; sleep_word = true;
                 if :: polling -> interrupted = true :: else -> skip fi
    :: else -> skip
    fi
  }
}

active proctype idle_worker() {
end_idle:
  do
  :: atomic { sleep_word = false; listed = true; sleepers++ };
     /* store_load_barrier(), last look for work: none in this model */
     if
     :: atomic { !busy -> busy = true } ->
        /* netpoll_block */
        polling = true;
        if
        :: sleep_word -> skip
        :: else ->
end_poll:  (event || interrupted);
           atomic { if :: event -> event = false :: else -> skip fi; interrupted = false }
        fi;
        polling = false;
        busy = false
     :: else ->
end_sleep:
        sleep_word  /* futex_wait until woken */
     fi;
     atomic { if :: listed -> listed = false; sleepers-- :: else -> skip fi }
  od
}

/* A busy worker or the monitor: netpoll_if_stale, a few times. */
active proctype looker() {
  do
  :: looks < 2 ->
     looks++;
     if
     :: atomic { !busy -> busy = true } ->
        atomic { if :: event -> event = false :: else -> skip fi };  /* netpoll_poll(rt, 0) */
        busy = false;
#ifndef BUG_NO_WAKE_AFTER_LOOK
        /* store_load_barrier(); then look for sleepers */
        if
        :: sleepers > 0 -> wake_listed_worker()
        :: else -> skip
        fi
#endif
     :: else -> skip
     fi
  :: else -> break
  od
}

active proctype network() {
  event = true
}

/* At rest, no readiness may be left unseen. */
active proctype check() {
  timeout -> assert(!event)
}
