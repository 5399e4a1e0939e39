/*
 * rank_out.c — the ranking report of `eval --top` and `train --top` (cf_rank_report):
 * its progress on a terminal (shared with the fold-in's), its text table and its JSON
 * object.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void cli_rank_progress_start(cli_rank_progress *p, const char *cmd, int quiet) {
    p->cmd = cmd;
    p->last = -1;
    cli_phase_line_init(&p->line, quiet);
    p->stop = cli_interrupt_install(quiet ? NULL : "\ncufactor: interrupt: stopping\n");
}

int cli_rank_progress_fn(const char *phase, int64_t done, int64_t total, void *user) {
    cli_rank_progress *p = user;
    const double now = cli_now();
    if (done < total && now - p->last >= 0.1) {
        cli_phase_show(&p->line, "%s: %s %lld of %lld users ...", p->cmd, strcmp(phase, "rank") ? "folding in" : "ranking",
                       (long long)done, (long long)total);
        p->last = now;
    } else if (done >= total) {
        cli_phase_clear(&p->line);
    }
    return *p->stop != 0;
}

void cli_rank_progress_end(cli_rank_progress *p) {
    cli_phase_clear(&p->line);
    cli_interrupt_restore();
}

const char *const cli_rank_measure_names[6] = {"precision", "recall", "ndcg", "map", "hit_rate", "coverage"};

void cli_rank_print(FILE *f, const cf_rank_report *rk, double relevant_min, const char *excluded, int popular) {
    fprintf(f, "ranking top %d: %lld users", (int)rk->n, (long long)rk->users);
    if (rk->users_unknown || rk->users_no_relevant) {
        fputs(" (skipped:", f);
        if (rk->users_unknown) fprintf(f, " %lld unknown to the model", (long long)rk->users_unknown);
        if (rk->users_unknown && rk->users_no_relevant) fputc(',', f);
        if (rk->users_no_relevant) fprintf(f, " %lld without a relevant rating", (long long)rk->users_no_relevant);
        fputc(')', f);
    }
    fprintf(f, ", %lld relevant ratings", (long long)rk->relevant);
    if (isnan(relevant_min)) fputs(" (every rating)", f);
    else fprintf(f, " (rating >= %g)", relevant_min);
    if (rk->relevant_unknown) fprintf(f, ", %lld of items the model does not know", (long long)rk->relevant_unknown);
    if (rk->relevant_excluded) fprintf(f, "; %lld also in %s left out", (long long)rk->relevant_excluded, excluded);
    fputc('\n', f);
    const double *mv = &rk->model.precision, *pv = &rk->popular.precision, *ms = &rk->model_se.precision,
                 *ps = &rk->popular_se.precision, *ds = &rk->difference_se.precision;
    fprintf(f, "%-14s %21s%s\n", "", "model", popular ? "               popular        model − popular" : "");
    for (int q = 0; q < 6; q++) {
        char label[32];
        snprintf(label, sizeof label, q < 5 ? "%s@%d" : "%s", cli_rank_measure_names[q], (int)rk->n);
        if (q == 5) { /* a share of the items: no mean over users, no standard error */
            fprintf(f, "%-14s %10.6f", label, mv[q]);
            if (popular) fprintf(f, "%11s %10.6f", "", pv[q]);
        } else {
            fprintf(f, "%-14s %10.6f ± %.6f", label, mv[q], ms[q]);
            if (popular) fprintf(f, " %10.6f ± %.6f  %+10.6f ± %.6f", pv[q], ps[q], mv[q] - pv[q], ds[q]);
        }
        fputc('\n', f);
    }
    fprintf(f, "(± one standard error over the users%s)\n", popular ? "; the difference paired by user" : "");
}

void cli_rank_print_floor(FILE *f, int64_t min_ratings) {
    if (min_ratings > 0)
        fprintf(f, "(--min-ratings %lld: only items fit to at least %lld ratings ranked, in both columns; the "
                   "relevant items below it count as items the model does not know)\n",
                (long long)min_ratings, (long long)min_ratings);
}

/* When the model's lists are significantly worse than popularity's (precision more than two
 * paired standard errors below), says so on stderr and names the remedies that the
 * measurements in bench/results/regularization-2026-12-07-movielens.md and
 * cv-bias-axis-2026-12-07-movielens.md found: a support floor, and a regularization chosen
 * by a ranking measure — with biases, their own plain λ_b searched beside λ (it shrinks a
 * bias fit to few ratings whatever λ the factors take); without, plain λ (with weighted
 * λ·n, items with few ratings keep extreme values at every λ). Nothing with quiet or
 * without the baseline. */
void cli_rank_hint(const cf_rank_report *rk, const cf_config *cfg, int64_t min_ratings, int popular, int quiet) {
    const double d = rk->model.precision - rk->popular.precision, se = rk->difference_se.precision;
    if (quiet || !popular || rk->users == 0 || !(d < -2 * se)) return;
    const int n = (int)rk->n;
    const char *how = cfg->bias                    ? " --grid lambda=... --bias-reg plain --grid bias-lambda=5,10,25"
                      : cfg->reg == CF_REG_WEIGHTED ? " --reg plain --grid lambda=..."
                                                    : " --grid lambda=...";
    fprintf(stderr,
            "hint: the model ranks below popularity (precision@%d %.4f against %.4f, %+.4f ± %.4f). A model fit "
            "to rating values ranks items by predicted rating, which favours items with few, high ratings. For "
            "lists, rank with %s, or choose the regularization by a ranking measure: cufactor cv DATA%s "
            "--select precision@%d (docs/USAGE.md, \"Regularization for lists\")\n",
            n, rk->model.precision, rk->popular.precision, d, se, min_ratings > 0 ? "a higher --min-ratings" : "--min-ratings M",
            how, n);
}

void cli_rank_json(FILE *f, const cf_rank_report *rk, double relevant_min, const char *exclude, int popular) {
    int first = 1;
    fputc('{', f);
    json_key(f, &first, "n"), fprintf(f, "%d", (int)rk->n);
    json_key(f, &first, "relevant_min"), json_number(f, relevant_min);
    json_key(f, &first, "exclude"), json_string(f, exclude);
    json_key(f, &first, "users"), fprintf(f, "%lld", (long long)rk->users);
    json_key(f, &first, "users_unknown"), fprintf(f, "%lld", (long long)rk->users_unknown);
    json_key(f, &first, "users_no_relevant"), fprintf(f, "%lld", (long long)rk->users_no_relevant);
    json_key(f, &first, "relevant"), fprintf(f, "%lld", (long long)rk->relevant);
    json_key(f, &first, "relevant_unknown"), fprintf(f, "%lld", (long long)rk->relevant_unknown);
    json_key(f, &first, "relevant_excluded"), fprintf(f, "%lld", (long long)rk->relevant_excluded);
    const cf_rank_metrics *ms[5] = {&rk->model, &rk->popular, &rk->model_se, &rk->popular_se, &rk->difference_se};
    static const char *const key[5] = {"model", "popular", "model_se", "popular_se", "difference_se"};
    for (int s = 0; s < 5; s++) {
        json_key(f, &first, key[s]);
        if (!popular && (s == 1 || s >= 3)) { /* the baseline's, without --exclude */
            fputs("null", f);
            continue;
        }
        int f2 = 1;
        fputc('{', f);
        for (int q = 0; q < 6; q++) json_key(f, &f2, cli_rank_measure_names[q]), json_number(f, (&ms[s]->precision)[q]);
        fputc('}', f);
    }
    fputc('}', f);
}
