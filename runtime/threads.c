/*
 * threads.c — a tiny fork-join pool for the layer kernels.
 *
 * A layer is one job: the caller publishes (fn, ctx, n) and bumps a
 * generation counter; worker i runs fn(ctx, i, n) if i < n, then counts
 * itself done.  Layers follow each other within microseconds, so workers
 * spin on the counter for about a millisecond before sleeping on a
 * condition variable; the caller wakes sleepers only when there are some.
 * Workers are created lazily by the first parallel job (never inside a
 * kernel's hot loop) and live until the process exits.
 */
#include <pthread.h>
#include <stdlib.h>

#include "cnnrt_internal.h"

#define SPIN_ROUNDS 20000

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int gen;       /* bumped once per job */
    int sleepers;  /* workers blocked on wake, under mu */
    int remaining; /* workers that have not finished the current job */
    int n_workers; /* threads created besides the caller */
    cnn_task_fn fn;
    void *ctx;
    int n;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, NULL, NULL, 0};

static int requested; /* 0 until set or read from the environment */

static void cpu_relax(void) {
#if CNN_X86
    __builtin_ia32_pause();
#endif
}

void cnnrt_set_threads(int n) {
    requested = n < 1 ? 1 : n > CNN_MAX_THREADS ? CNN_MAX_THREADS : n;
}

int cnnrt_threads(void) {
    if (!requested) {
        const char *env = getenv("CNNRT_THREADS");
        cnnrt_set_threads(env ? atoi(env) : 1);
    }
    return requested;
}

static void *worker_main(void *arg) {
    int index = (int)(size_t)arg;
    int seen = 0;
    for (;;) {
        int spins = 0, gen;
        while ((gen = __atomic_load_n(&pool.gen, __ATOMIC_ACQUIRE)) == seen) {
            if (++spins < SPIN_ROUNDS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool.mu);
            pool.sleepers++;
            while (__atomic_load_n(&pool.gen, __ATOMIC_ACQUIRE) == seen)
                pthread_cond_wait(&pool.wake, &pool.mu);
            pool.sleepers--;
            pthread_mutex_unlock(&pool.mu);
        }
        seen = gen;
        if (index < pool.n) pool.fn(pool.ctx, index, pool.n);
        __atomic_fetch_sub(&pool.remaining, 1, __ATOMIC_ACQ_REL);
    }
    return NULL;
}

/* Create workers 1..n-1 that do not exist yet; returns how many exist. */
static int grow_pool(int n) {
    while (pool.n_workers < n - 1) {
        pthread_t tid;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int ok = pthread_create(&tid, &attr, worker_main, (void *)(size_t)(pool.n_workers + 1)) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) break;
        pool.n_workers++;
    }
    return pool.n_workers + 1;
}

void cnn_parallel(cnn_task_fn fn, void *ctx, int n) {
    if (n > 1) n = n > grow_pool(n) ? pool.n_workers + 1 : n;
    if (n <= 1) {
        /* Not enough threads: run every part here, in order. */
        int i;
        for (i = 0; i < (n < 1 ? 1 : n); i++) fn(ctx, i, n < 1 ? 1 : n);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    __atomic_store_n(&pool.remaining, pool.n_workers, __ATOMIC_RELAXED);
    pthread_mutex_lock(&pool.mu);
    __atomic_store_n(&pool.gen, pool.gen + 1, __ATOMIC_RELEASE);
    if (pool.sleepers) pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    fn(ctx, 0, n);
    while (__atomic_load_n(&pool.remaining, __ATOMIC_ACQUIRE) != 0) cpu_relax();
}
