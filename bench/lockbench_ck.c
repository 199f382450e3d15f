/* bench/lockbench_ck.c — Concurrency Kit's spinlocks as lockbench's reference.
 *
 * What: ck_spinlock_fas (test-and-set), ck_spinlock_ticket and
 * ck_spinlock_mcs, offered to lockbench.cpp through one small C interface:
 * lockbench_ck_get(kind) returns a table of plain functions over opaque
 * objects (the lock, and a per-contender waiter for MCS's queue node).
 *
 * How: CK's headers are C (they do not compile as C++ without -fpermissive),
 * so they live in this C file only. Each lock and each waiter gets its own
 * 128-byte block (two cache lines) so nothing else shares its lines. The
 * uncontended loop runs here, with CK's inline functions inlined, so that CK
 * is not charged a function call per operation that jiffy's locks (inlined in
 * C++) are not. The struct below must match the one in lockbench.cpp.
 */
#include <ck_spinlock.h>

#include <stdlib.h>
#include <string.h>

struct lockbench_ck_ops {
  const char* name;
  size_t size;        /* bytes of the lock itself */
  size_t waiter_size; /* bytes of a waiter's own state (the MCS node); 0 if none */
  void* (*create)(void);
  void* (*new_waiter)(void); /* NULL when waiter_size is 0 */
  void (*release)(void*);    /* frees a lock or a waiter */
  void (*lock)(void* lock, void* waiter);
  void (*unlock)(void* lock, void* waiter);
  void (*loop)(void* lock, void* waiter, unsigned long pairs);
};

const struct lockbench_ck_ops* lockbench_ck_get(int kind);

enum { block_size = 128 };

static void* new_block(void) {
  void* p = aligned_alloc(block_size, block_size);
  if (p) memset(p, 0, block_size);
  return p;
}

static void release_block(void* p) { free(p); }

/* ---- ck_spinlock_fas ---- */

static void fas_lock(void* l, void* w) {
  (void)w;
  ck_spinlock_fas_lock(l);
}
static void fas_unlock(void* l, void* w) {
  (void)w;
  ck_spinlock_fas_unlock(l);
}
static void fas_loop(void* l, void* w, unsigned long n) {
  (void)w;
  for (unsigned long i = 0; i < n; ++i) {
    ck_spinlock_fas_lock(l);
    ck_spinlock_fas_unlock(l);
  }
}

/* ---- ck_spinlock_ticket ---- */

static void ticket_lock(void* l, void* w) {
  (void)w;
  ck_spinlock_ticket_lock(l);
}
static void ticket_unlock(void* l, void* w) {
  (void)w;
  ck_spinlock_ticket_unlock(l);
}
static void ticket_loop(void* l, void* w, unsigned long n) {
  (void)w;
  for (unsigned long i = 0; i < n; ++i) {
    ck_spinlock_ticket_lock(l);
    ck_spinlock_ticket_unlock(l);
  }
}

/* ---- ck_spinlock_mcs: the lock is the queue's tail pointer ---- */

static void mcs_lock(void* l, void* w) { ck_spinlock_mcs_lock(l, w); }
static void mcs_unlock(void* l, void* w) { ck_spinlock_mcs_unlock(l, w); }
static void mcs_loop(void* l, void* w, unsigned long n) {
  for (unsigned long i = 0; i < n; ++i) {
    ck_spinlock_mcs_lock(l, w);
    ck_spinlock_mcs_unlock(l, w);
  }
}

static const struct lockbench_ck_ops ops[] = {
    {"ck_spinlock_fas", sizeof(ck_spinlock_fas_t), 0, new_block, NULL, release_block, fas_lock, fas_unlock, fas_loop},
    {"ck_spinlock_ticket", sizeof(ck_spinlock_ticket_t), 0, new_block, NULL, release_block, ticket_lock, ticket_unlock,
     ticket_loop},
    {"ck_spinlock_mcs", sizeof(ck_spinlock_mcs_t), sizeof(ck_spinlock_mcs_context_t), new_block, new_block,
     release_block, mcs_lock, mcs_unlock, mcs_loop},
};

/* kind: 0 fas, 1 ticket, 2 mcs; NULL for any other. */
const struct lockbench_ck_ops* lockbench_ck_get(int kind) {
  if (kind < 0 || kind >= (int)(sizeof ops / sizeof ops[0])) return NULL;
  return &ops[kind];
}
