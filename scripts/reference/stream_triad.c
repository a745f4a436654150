/* Reference STREAM triad for hwbench's side-by-side comparison (scripts/compare_reference.py).
 * a[i] = b[i] + s * c[i] over float64 arrays, OpenMP static schedule, one thread per CPU listed in
 * OMP_PLACES (the script pins the same CPUs hwbench uses). Pages are first touched by the thread
 * that uses them, as STREAM does. Prints: best_seconds median_seconds (STREAM bytes = 24 per element).
 * Build: gcc -O3 -march=native -fopenmp stream_triad.c -o stream_triad
 * Usage: stream_triad N_ELEMENTS REPETITIONS */
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>

static int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s N REPS\n", argv[0]); return 2; }
    long n = atol(argv[1]);
    int reps = atoi(argv[2]);
    double *a = aligned_alloc(64, n * sizeof(double));
    double *b = aligned_alloc(64, n * sizeof(double));
    double *c = aligned_alloc(64, n * sizeof(double));
    double *t = malloc(reps * sizeof(double));
    const double s = 3.0;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) { a[i] = 0.0; b[i] = 1.0; c[i] = 2.0; }
    for (int r = 0; r < reps; r++) {
        double t0 = omp_get_wtime();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        t[r] = omp_get_wtime() - t0;
    }
    for (long i = 0; i < n; i++)
        if (a[i] != 7.0) { fprintf(stderr, "output check failed at %ld\n", i); return 1; }
    qsort(t, reps, sizeof(double), cmp);
    printf("%.9f %.9f\n", t[0], t[reps / 2]);
    return 0;
}
