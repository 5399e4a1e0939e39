/*
 * history.c — the iterations of a training as the CLI keeps them: the progress lines,
 * `train --json`'s "history" array, and the iteration with the lowest test RMSE (train's
 * "best test" line and its hint when the later iterations made the test RMSE worse; the
 * demo's remark).
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cli_history_record(const cf_iter_info *info, void *user) {
    cli_history *h = user;
    if (h->n == h->cap && !h->lost) {
        int cap = h->cap ? 2 * h->cap : 64;
        cf_iter_info *it = realloc(h->it, (size_t)cap * sizeof *it);
        if (it)
            h->it = it, h->cap = cap;
        else
            h->lost = 1; /* the training goes on; the JSON says the history is missing */
    }
    if (h->n < h->cap) h->it[h->n++] = *info;
    return h->print ? cli_progress_named(info, h->print, h->validation ? "valid_rmse" : "test_rmse") : 0;
}

void cli_history_free(cli_history *h) {
    free(h->it);
    h->it = NULL, h->n = h->cap = 0;
}

int cli_history_best(const cli_history *h, const cf_train_report *rep, cf_iter_info *best) {
    if (h->lost || rep->restart < 0 || rep->n_test == 0) return 0;
    int seen = 0, found = 0;
    for (int k = 0; k < h->n; k++) {
        const cf_iter_info *it = &h->it[k];
        if (it->restart != rep->restart) continue;
        if (it->iter != ++seen) return 0; /* a resumed run: its first iterations ran elsewhere */
        if (isnan(it->test_rmse)) return 0;
        if (!found || it->test_rmse < best->test_rmse) *best = *it, found = 1;
    }
    return found && seen >= rep->iters;
}

void cli_history_json(FILE *o, const cli_history *h) {
    if (h->lost) {
        fputs("null", o);
        return;
    }
    fputc('[', o);
    for (int k = 0; k < h->n; k++) {
        const cf_iter_info *it = &h->it[k];
        int first = 1;
        fputs(k ? ",{" : "{", o);
        json_key(o, &first, "run"), fprintf(o, "%d", (int)it->restart + 1);
        json_key(o, &first, "iter"), fprintf(o, "%d", (int)it->iter);
        json_key(o, &first, "train_rmse"), json_number(o, it->train_rmse);
        json_key(o, &first, h->validation ? "valid_rmse" : "test_rmse"), json_number(o, it->test_rmse);
        json_key(o, &first, "objective"), json_number(o, it->objective);
        json_key(o, &first, "seconds"), json_number(o, it->seconds);
        json_key(o, &first, "ratings_per_sec"), json_number(o, it->ratings_per_sec);
        fputc('}', o);
    }
    fputc(']', o);
}

int cli_history_rose(const cf_iter_info *best, const cf_train_report *rep, const cf_config *cfg) {
    return cfg->early_stop == 0 && best->iter != rep->iters &&
           rep->test_rmse > best->test_rmse * (1.0 + CLI_HISTORY_ROSE);
}

void cli_overfit_hint(const cf_iter_info *best, const cf_train_report *rep, const cf_config *cfg, const char *data,
                      int validation, int quiet) {
    if (quiet) return;
    char same[64] = ""; /* the settings cv does not default to, so that it searches this model */
    if (cfg->algo != CF_ALGO_ALS) snprintf(same, sizeof same, " --algo %s", cf_algo_name(cfg->algo));
    if (cfg->reg != CF_REG_WEIGHTED)
        snprintf(same + strlen(same), sizeof same - strlen(same), " --reg %s", cf_reg_name(cfg->reg));
    if (!cfg->bias) snprintf(same + strlen(same), sizeof same - strlen(same), " --no-bias");
    fprintf(stderr,
            "hint: the %s RMSE was lowest at iteration %d (%.6f) and is %.1f %% higher at iteration %d: the later "
            "iterations fit noise of the training ratings. cufactor cv %s%s --factors 8,16,32 --lambda "
            "0.05,0.1,0.2 --select-iters chooses K, lambda and the iterations by held-out folds; %s\n",
            validation ? "validation" : "test", (int)best->iter, best->test_rmse,
            100.0 * (rep->test_rmse / best->test_rmse - 1.0), (int)rep->iters, data ? data : "DATA", same,
            validation ? "--early-stop 3 keeps the best iteration by this validation part"
                       : "--early-stop 3 --validation 0.1 keeps the best iteration by a validation part of the "
                         "training data (--early-stop alone chooses it on this test part, whose RMSE is then "
                         "optimistic)");
}
