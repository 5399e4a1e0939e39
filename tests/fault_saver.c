/*
 * fault_saver.c — the process test_faults kills while it saves a model.
 *
 * It is a program of its own, started by fork and an immediate exec, because the test
 * process has threads (Criterion's message loop, OpenMP's pool): a child that only forks
 * inherits whatever lock one of them held at that instant and can hang forever in its
 * first malloc (it did, once, under ASan in CI). After exec the saver starts clean.
 *
 *   fault_saver loop PATH            builds models 1 and 2, writes 'R' on fd 3, then saves
 *                                    2, 1, 2, 1, ... to PATH until it is killed
 *   fault_saver stop PATH SEED TMP   saves model SEED to PATH (TMP 1: O_TMPFILE, 0: the
 *                                    named mkstemp fallback); once the first 4 MiB are in
 *                                    the file it writes 'U' (unnamed) or 'N' (named) on
 *                                    fd 3 and waits to be killed
 * Exit codes: 2 bad usage or no model, 3 the report could not be written, 4 a save
 * failed, 5 a save finished without a flush (the model is too small for the test).
 */
#include "atomic_file.h"
#include "big_model.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { REPORT_FD = 3 };

static void report(char c) {
    if (write(REPORT_FD, &c, 1) != 1) _exit(3);
}

static void report_and_wait(const cf_afile *f) {
    report(f->anon ? 'U' : 'N');
    for (;;) pause();
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "loop") == 0) {
        cf_model *a = cf_test_big_model(1), *b = cf_test_big_model(2);
        if (!a || !b) return 2;
        report('R');
        for (int k = 0;; k++)
            if (cf_model_save(k % 2 ? a : b, argv[2], NULL) != CF_OK) return 4;
    }
    if (argc == 5 && strcmp(argv[1], "stop") == 0) {
        cf_model *m = cf_test_big_model(strtoull(argv[3], NULL, 10));
        if (!m) return 2;
        cf_afile_use_tmpfile(atoi(argv[4]));
        cf_afile_after_flush = report_and_wait;
        return cf_model_save(m, argv[2], NULL) == CF_OK ? 5 : 4;
    }
    return 2;
}
