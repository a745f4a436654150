/* Reference pointer chase for hwbench's latency comparison (scripts/compare_latency.py): a plain p = *p loop.
 * The same method as hwbench's kernels/cpu_latency.py, written independently: one pointer at the start of every
 * 64-byte line of the working set, the lines in a random order (Fisher-Yates with splitmix64 here; NumPy's PCG64
 * permutation in hwbench: the same method, another generator) each pointing at the next, in an anonymous mapping aligned on 2 MiB with madvise(MADV_HUGEPAGE), first
 * touched by the pinned thread. The walk is validated before timing (back at the start after exactly n loads,
 * never earlier), each sample continues where the last ended, and after the samples the pointer must be at the
 * line the order puts there.
 * Prints one line per sample: nanoseconds per load (CLOCK_MONOTONIC around the loop).
 * Build: gcc -O3 -march=native chase.c -o chase   (compare_reference.py's build adds -fopenmp, unused here)
 * Usage: chase CPU WORKING_SET_BYTES STEPS_PER_SAMPLE SAMPLES */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define LINE 64
#define HUGE (2UL << 20)
#define SEED 20260101ULL

static uint64_t state;
static uint64_t splitmix64(void) { /* Steele, Lea and Flood (2014) */
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s CPU WORKING_SET_BYTES STEPS SAMPLES\n", argv[0]); return 2; }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(atoi(argv[1]), &set);
    if (sched_setaffinity(0, sizeof set, &set)) { perror("sched_setaffinity"); return 2; }
    size_t bytes = strtoull(argv[2], NULL, 10), n = bytes / LINE;
    long steps = atol(argv[3]);
    int samples = atoi(argv[4]);
    size_t mapped = (bytes + 2 * HUGE - 1) / HUGE * HUGE;
    char *raw = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) { perror("mmap"); return 1; }
    char *base = (char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
    madvise(base, mapped - (base - raw), MADV_HUGEPAGE);
    size_t *order = malloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = i;
    state = SEED;
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates: the lines in a random order */
        size_t j = splitmix64() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t k = 0; k < n; k++) /* each line points at the next in that order: one cycle through all */
        *(void **)(base + order[k] * LINE) = base + order[(k + 1) % n] * LINE;
    void **p = (void **)(base + order[0] * LINE), **start = p;
    for (size_t k = 1; k <= n; k++) { /* validation: back at the start after exactly n loads, never before */
        p = (void **)*p;
        if ((p == start) != (k == n)) { fprintf(stderr, "chain is not one cycle\n"); return 1; }
    }
    long total = 0;
    for (int s = -1; s < samples; s++) { /* sample -1: warm-up */
        double t0 = now();
        for (long k = 0; k < steps; k++) p = (void **)*p;
        double t1 = now();
        total += steps;
        if (s >= 0) printf("%.4f\n", (t1 - t0) / steps * 1e9);
    }
    if ((char *)p != base + order[total % (long)n] * LINE) { /* where the order says the chase must be */
        fprintf(stderr, "chase ended at the wrong line\n");
        return 1;
    }
    return 0;
}
