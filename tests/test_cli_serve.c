/*
 * test_cli_serve.c — the commands that use a trained model, end to end through the real
 * binary (as test_cli.c): the chain gen → train --model --json → eval → predict →
 * recommend → export checked against independent computations (the test reads the
 * generated file itself, loads the saved model with cf_model_load and recomputes RMSE,
 * predictions, rankings and r̂ = μ + b_u + b_i + P[u]·Q[i] from the exported .npy files);
 * similar, fold-in, explain, eval --top and --min-ratings against the library; info on models,
 * checkpoints and ratings files.
 */
#include <criterion/criterion.h>

#include "cufactor.h"
#include "helpers.h"
#include "model.h" /* n_ratings: a version-1 model file made from a new one */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

CF_TEST_SUITE_WITH_TMPDIR(cli, 120);

#include "cli_common.h"

/* ------------------------------------------------------------------ eval */

Test(cli, eval_matches_a_recomputation_from_the_model) {
    free(gen_and_train());
    cf_model *m = load_model();
    char *dp = data_path();
    rows t = read_rows(dp);
    /* the pairs the model knows, into known.tsv; RMSE and MAE computed here */
    char *kp = cf_test_path(dir, "known.tsv");
    FILE *f = fopen(kp, "w");
    double sse = 0, sae = 0;
    int n = 0, unknown = 0;
    for (int k = 0; k < t.n; k++) {
        double x = predict_or_nan(m, t.user[k], t.item[k]);
        if (isnan(x)) {
            unknown++;
            continue;
        }
        /* the library keeps ratings in float32: compare with the same value */
        double r = (double)(float)t.r[k];
        fprintf(f, "%s\t%s\t%.17g\n", t.user[k], t.item[k], r);
        sse += (x - r) * (x - r);
        sae += fabs(x - r);
        n++;
    }
    fclose(f);
    cr_assert_gt(n, N_RATINGS / 2);
    run_result r = cli("eval", "model.cfm", "known.tsv", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    double rmse = sqrt(sse / n), mae = sae / n;
    cr_assert_eq(json_num(r.out, "count"), n);
    cr_assert_eq(json_num(r.out, "unseen"), 0);
    cr_assert(fabs(json_num(r.out, "rmse") - rmse) <= 1e-9 * rmse, "eval %.17g, here %.17g", json_num(r.out, "rmse"),
              rmse);
    cr_assert(fabs(json_num(r.out, "mae") - mae) <= 1e-9 * mae, "eval %.17g, here %.17g", json_num(r.out, "mae"), mae);
    run_free(&r);

    /* the whole file: every rating counted, the unknown ones as unseen */
    r = cli("eval", "model.cfm", "data.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    long long count = -1, unseen = -1;
    const char *c = strstr(r.out, "count"), *u = strstr(r.out, "unseen");
    cr_assert(c && u, "%s", r.out);
    sscanf(c, "count %lld", &count);
    sscanf(u, "unseen %lld", &unseen);
    cr_assert_eq(count, N_RATINGS);
    cr_assert_eq(unseen, unknown);
    run_free(&r);

    rows_free(&t);
    cf_model_destroy(&m);
    free(kp), free(dp);
}

/* ------------------------------------------------------------------ predict */

Test(cli, predict_equals_the_library_for_every_delimiter) {
    free(gen_and_train());
    cf_model *m = load_model();
    char *dp = data_path();
    rows t = read_rows(dp);
    /* 40 pairs the model knows */
    int pick[40], np = 0;
    for (int k = 0; k < t.n && np < 40; k += 37)
        if (!isnan(predict_or_nan(m, t.user[k], t.item[k]))) pick[np++] = k;
    cr_assert_eq(np, 40);
    const char *delims[] = {"\t", ",", "::", " "};
    for (int d = 0; d < 4; d++) {
        char *pp = cf_test_path(dir, "pairs.txt");
        FILE *f = fopen(pp, "w");
        fprintf(f, "# pairs to score\n\n");
        for (int k = 0; k < np; k++) {
            /* extra columns (the rating, a timestamp) must be ignored */
            fprintf(f, "%s%s%s%s%g%s123456\n", t.user[pick[k]], delims[d], t.item[pick[k]], delims[d], t.r[pick[k]],
                    delims[d]);
            if (k == 10) fprintf(f, "\n   \n# a comment\n");
        }
        fclose(f);
        int to_file = d % 2 == 1;
        run_result r = to_file ? cli("predict", "model.cfm", "pairs.txt", "--out", "pred.tsv", NULL)
                               : cli("predict", "model.cfm", "pairs.txt", NULL);
        cr_assert_eq(r.code, 0, "delimiter '%s': %s", delims[d], r.err);
        char *po = cf_test_path(dir, "pred.tsv");
        char *text = to_file ? cf_test_read(po, NULL) : strdup(r.out);
        cr_assert_not_null(text);
        if (to_file) cr_assert_str_empty(r.out);
        int k = 0;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), k++) {
            cr_assert_lt(k, np, "more output lines than pairs");
            char u[64], i[64];
            double x;
            cr_assert_eq(sscanf(line, "%63[^\t]\t%63[^\t]\t%lf", u, i, &x), 3, "bad line: %s", line);
            cr_assert_str_eq(u, t.user[pick[k]]);
            cr_assert_str_eq(i, t.item[pick[k]]);
            double want = predict_or_nan(m, u, i);
            cr_assert(fabs(x - want) <= 1e-9, "%s %s: printed %.17g, library %.17g", u, i, x, want);
        }
        cr_assert_eq(k, np, "delimiter '%s': %d lines for %d pairs", delims[d], k, np);
        free(text);
        unlink(po);
        free(po);
        free(pp);
        run_free(&r);
    }
    rows_free(&t);
    cf_model_destroy(&m);
    free(dp);
}

Test(cli, predict_unknown_id_fails_and_leaves_no_output) {
    free(gen_and_train());
    char *dp = data_path();
    rows t = read_rows(dp);
    char *pp = cf_test_path(dir, "pairs.txt");
    FILE *f = fopen(pp, "w");
    fprintf(f, "%s %s\n%s %s\nnobody %s\n", t.user[0], t.item[0], t.user[1], t.item[1], t.item[2]);
    fclose(f);
    /* --unknown error: the strict mode (the default answers the mean, test_unseen.c) */
    run_result r = cli("predict", "model.cfm", "pairs.txt", "--out", "pred.tsv", "--unknown", "error", NULL);
    cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "pairs.txt:3: unknown user 'nobody'"), "%s", r.err);
    char *po = cf_test_path(dir, "pred.tsv");
    cr_assert_not(exists(po), "a partial output file was left");
    cr_assert_eq(count_entries(dir, "pred.tsv"), 0, "a temporary output file was left");
    run_free(&r);

    /* an unknown item, to stdout: nothing printed */
    f = fopen(pp, "w");
    fprintf(f, "%s,%s\n%s,nothing-like-it\n", t.user[0], t.item[0], t.user[1]);
    fclose(f);
    r = cli("predict", "model.cfm", "pairs.txt", "--unknown", "error", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "pairs.txt:2: unknown item 'nothing-like-it'"), "%s", r.err);
    cr_assert_str_empty(r.out, "partial output on stdout: %s", r.out);
    run_free(&r);
    rows_free(&t);
    free(po), free(pp), free(dp);
}

/* ------------------------------------------------------------------ recommend */

/* --users FILE and --all-users: each user's lines are what --user gives that user (the
 * same items, the same printed scores), in the file's (the model's) order; an unknown ID
 * of FILE is an error naming FILE:LINE and writes no --out; --json gives one object per
 * user and line. */
Test(cli, recommend_many_users_is_one_at_a_time) {
    free(gen_and_train());
    const char *users_txt = "# some users\n3\n\n77\t1\n3\n150\n";
    free(cf_test_write(dir, "users.txt", users_txt, strlen(users_txt)));
    run_result all = cli("recommend", "model.cfm", "--users", "users.txt", "-n", "4", "--exclude", "data.tsv", NULL);
    cr_assert_eq(all.code, 0, "%s", all.err);
    const char *want_users[] = {"3", "77", "3", "150"};
    size_t at = 0;
    for (int k = 0; k < 4; k++) {
        run_result one = cli("recommend", "model.cfm", "--user", want_users[k], "-n", "4", "--exclude", "data.tsv", NULL);
        cr_assert_eq(one.code, 0, "%s", one.err);
        for (char *line = one.out; *line; line = strchr(line, '\n') + 1) {
            char expect[256];
            const int len = snprintf(expect, sizeof expect, "%s\t%.*s", want_users[k], (int)(strchr(line, '\n') - line + 1),
                                     line);
            cr_assert_eq(strncmp(all.out + at, expect, (size_t)len), 0, "user %s: wanted %s at:\n%s", want_users[k],
                         expect, all.out + at);
            at += (size_t)len;
        }
        run_free(&one);
    }
    cr_assert_eq(all.out[at], '\0', "more lines than the users': %s", all.out + at);
    run_free(&all);
    /* every user of the model, one JSON object per user and line */
    run_result js = cli("recommend", "model.cfm", "--all-users", "-n", "2", "--json", "--out", "all.jsonl", NULL);
    cr_assert_eq(js.code, 0, "%s", js.err);
    char *jp = cf_test_path(dir, "all.jsonl"), *jl = cf_test_read(jp, NULL);
    cr_assert_not_null(jl);
    cf_model *m = load_model();
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    cf_model_destroy(&m);
    int lines = 0;
    for (char *p = jl; (p = strchr(p, '\n')); p++) lines++;
    cr_assert_eq(lines, mi.n_users, "%d lines for %lld users", lines, (long long)mi.n_users);
    cr_assert(strncmp(jl, "{\"user\":", 8) == 0 && strstr(jl, "\"rank\":2"), "%.200s", jl);
    free(jl), free(jp), run_free(&js);
    /* an unknown user: FILE:LINE, no output file */
    free(cf_test_write(dir, "bad.txt", "3\nnobody\n", 9));
    run_result bad = cli("recommend", "model.cfm", "--users", "bad.txt", "--out", "bad.tsv", NULL);
    cr_assert_eq(bad.code, 1);
    cr_assert(strstr(bad.err, "bad.txt:2: unknown user 'nobody'"), "%s", bad.err);
    char *bp = cf_test_path(dir, "bad.tsv");
    cr_assert_neq(access(bp, F_OK), 0, "bad.tsv was written");
    free(bp), run_free(&bad);
}

Test(cli, recommend_returns_the_top_unrated_items) {
    free(gen_and_train());
    cf_model *m = load_model();
    char *dp = data_path();
    rows t = read_rows(dp);
    /* a user with many ratings who still has unrated items: among the users of the
     * first 500 lines, the most frequent one with at most N_ITEMS - 20 ratings */
    int best = -1, best_n = 0;
    for (int k = 0; k < 500; k++) {
        int c = 0;
        for (int j = 0; j < t.n; j++) c += strcmp(t.user[j], t.user[k]) == 0;
        if (c > best_n && c <= N_ITEMS - 20) best_n = c, best = k;
    }
    cr_assert_geq(best, 0);
    const char *user = t.user[best];
    const char **rated = malloc(sizeof *rated * (size_t)t.n);
    int n_rated = 0;
    for (int j = 0; j < t.n; j++)
        if (strcmp(t.user[j], user) == 0) rated[n_rated++] = t.item[j];
    cr_assert_gt(n_rated, 10);
    run_result r = cli("recommend", "model.cfm", "--user", user, "-n", "7", "--exclude", "data.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char item[7][64];
    double score[7];
    int k = 0;
    char *text = strdup(r.out);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), k++) {
        cr_assert_lt(k, 7, "more than 7 lines: %s", r.out);
        int rank;
        cr_assert_eq(sscanf(line, "%d\t%63[^\t]\t%lf", &rank, item[k], &score[k]), 3, "bad line: %s", line);
        cr_assert_eq(rank, k + 1);
        if (k) cr_assert_geq(score[k - 1], score[k], "not descending: %s", r.out);
        for (int j = 0; j < n_rated; j++)
            cr_assert_str_neq(rated[j], item[k], "recommended item %s was rated by %s", item[k], user);
        for (int j = 0; j < k; j++) cr_assert_str_neq(item[j], item[k], "item %s twice", item[k]);
        double want = predict_or_nan(m, user, item[k]);
        cr_assert(fabs(score[k] - want) <= 1e-9, "score %.17g, library %.17g", score[k], want);
    }
    free(text);
    cr_assert_eq(k, 7, "%d lines: %s", k, r.out);
    /* no unrated item of the file scores above the 7th */
    for (int j = 0; j < t.n; j++) {
        int was_rated = 0;
        for (int q = 0; q < n_rated && !was_rated; q++) was_rated = strcmp(rated[q], t.item[j]) == 0;
        if (was_rated) continue;
        double x = predict_or_nan(m, user, t.item[j]);
        if (isnan(x)) continue; /* an item only in the test part, unknown to the model */
        int listed = 0;
        for (int q = 0; q < 7; q++) listed |= strcmp(item[q], t.item[j]) == 0;
        cr_assert(listed || x <= score[6] + 1e-12, "unrated item %s scores %.17g above the 7th (%.17g)", t.item[j],
                  x, score[6]);
    }
    run_free(&r);

    r = cli("recommend", "model.cfm", "--user", user, "--n=3", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    int ranks = 0;
    for (const char *p = r.out; (p = strstr(p, "\"rank\":")); p++) ranks++;
    cr_assert_eq(ranks, 3, "%s", r.out);
    run_free(&r);

    r = cli("recommend", "model.cfm", "--user", "nobody", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "cufactor: error:"), "%s", r.err);
    run_free(&r);
    free(rated);
    rows_free(&t);
    cf_model_destroy(&m);
    free(dp);
}

/* recommend --item: the users of the model but those who rated the item in --exclude,
 * best first, each with the score cf_model_predict gives the pair (printed to 10
 * decimals); --items FILE: each item's lines with the item in front; --json names them
 * item and users; an unknown item is an error. */
Test(cli, recommend_users_for_an_item) {
    free(gen_and_train());
    char *dp = data_path();
    rows t = read_rows(dp);
    cf_model *m = load_model();
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    run_result r = cli("recommend", "model.cfm", "--item", "17", "-n", "1000", "--exclude", "data.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    int raters = 0, lines = 0;
    for (int j = 0; j < t.n; j++) raters += strcmp(t.item[j], "17") == 0;
    cr_assert_gt(raters, 0);
    double prev = INFINITY;
    for (char *line = r.out; *line; line = strchr(line, '\n') + 1) {
        int rank;
        char user[64];
        double score;
        cr_assert_eq(sscanf(line, "%d\t%63[^\t]\t%lf", &rank, user, &score), 3, "%s", line);
        cr_assert_eq(rank, ++lines);
        for (int j = 0; j < t.n; j++)
            cr_assert(strcmp(t.item[j], "17") != 0 || strcmp(t.user[j], user) != 0, "user %s rated 17", user);
        const double want = predict_or_nan(m, user, "17");
        cr_assert(fabs(score - want) <= 1e-10, "user %s: %.10f against %.12f", user, score, want);
        cr_assert_leq(score, prev + 1e-10);
        prev = score;
    }
    cr_assert_eq(lines, (int)mi.n_users - raters, "%d users listed, %lld in the model, %d rated it", lines,
                 (long long)mi.n_users, raters);
    run_free(&r);
    /* --items FILE: the same lines behind the item; JSON */
    free(cf_test_write(dir, "films.txt", "17\n23\n", 6));
    run_result many = cli("recommend", "model.cfm", "--items", "films.txt", "-n", "3", "--exclude", "data.tsv", NULL);
    cr_assert_eq(many.code, 0, "%s", many.err);
    size_t at = 0;
    const char *films[] = {"17", "23"};
    for (int k = 0; k < 2; k++) {
        run_result one = cli("recommend", "model.cfm", "--item", films[k], "-n", "3", "--exclude", "data.tsv", NULL);
        cr_assert_eq(one.code, 0, "%s", one.err);
        for (char *line = one.out; *line; line = strchr(line, '\n') + 1) {
            char expect[256];
            const int len = snprintf(expect, sizeof expect, "%s\t%.*s", films[k], (int)(strchr(line, '\n') - line + 1),
                                     line);
            cr_assert_eq(strncmp(many.out + at, expect, (size_t)len), 0, "item %s: wanted %s at:\n%s", films[k],
                         expect, many.out + at);
            at += (size_t)len;
        }
        run_free(&one);
    }
    cr_assert_eq(many.out[at], '\0');
    run_free(&many);
    r = cli("recommend", "model.cfm", "--item", "17", "-n", "2", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    static const char head[] = "{\"item\":\"17\",\"users\":[{\"rank\":1,\"user\":";
    cr_assert(strncmp(r.out, head, sizeof head - 1) == 0, "%s", r.out);
    run_free(&r);
    r = cli("recommend", "model.cfm", "--item", "nothing", NULL);
    cr_assert(r.code == 1 && strstr(r.err, "unknown item ID 'nothing'"), "%s", r.err);
    run_free(&r);
    expect_usage("give one of", cli("recommend", "model.cfm", "--item", "17", "--user", "3", NULL));
    expect_usage("--out is for many items", cli("recommend", "model.cfm", "--item", "17", "--out", "x", NULL));
    rows_free(&t);
    free(dp);
    cf_model_destroy(&m);
}

/* ------------------------------------------------------------------ similar */

/* similar --item: the library's list (cf_model_similar_items) with cosines as %.10f;
 * --items FILE: each item's lines with the item in front; --all-items --json --out: one
 * object per model item; an unknown item of FILE is FILE:LINE with no output. */
Test(cli, similar_items_single_many_and_all) {
    free(gen_and_train());
    cf_model *m = load_model();
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    const char *q = "17";
    run_result one = cli("similar", "model.cfm", "--item", q, "-n", "5", NULL);
    cr_assert_eq(one.code, 0, "%s", one.err);
    const int64_t off[2] = {0, 2};
    const cf_ids ids = {.n = 1, .chars = q, .offsets = off};
    int64_t rows[5];
    double sc[5];
    cf_error err = {0};
    cr_assert_eq(cf_model_similar_items(m, &ids, 5, 1, rows, sc, NULL, &err), CF_OK, "%s", err.msg);
    size_t bytes = 0;
    cr_assert_eq(cf_model_ids(m, CF_ITEMS, NULL, 0, NULL, &bytes, &err), CF_OK);
    char *chars = malloc(bytes);
    int64_t *offs = malloc((size_t)(mi.n_items + 1) * sizeof *offs);
    cr_assert_eq(cf_model_ids(m, CF_ITEMS, chars, bytes, offs, &bytes, &err), CF_OK);
    char want[1024];
    size_t w = 0;
    for (int k = 0; k < 5; k++)
        w += (size_t)snprintf(want + w, sizeof want - w, "%d\t%.*s\t%.10f\n", k + 1,
                              (int)(offs[rows[k] + 1] - offs[rows[k]]), chars + offs[rows[k]], sc[k]);
    cr_assert_str_eq(one.out, want);
    for (int k = 1; k < 5; k++) cr_assert_geq(sc[k - 1], sc[k]);
    cr_assert(sc[0] <= 1.0 && sc[4] >= -1.0);

    free(cf_test_write(dir, "items.txt", "# items\n17\n\n17\n", 15));
    run_result many = cli("similar", "model.cfm", "--items", "items.txt", "-n", "5", NULL);
    cr_assert_eq(many.code, 0, "%s", many.err);
    char want2[2048];
    size_t w2 = 0;
    for (int rep = 0; rep < 2; rep++)
        for (const char *line = one.out; *line; line = strchr(line, '\n') + 1)
            w2 += (size_t)snprintf(want2 + w2, sizeof want2 - w2, "17\t%.*s", (int)(strchr(line, '\n') - line + 1), line);
    cr_assert_str_eq(many.out, want2);
    run_free(&many), run_free(&one);

    run_result js = cli("similar", "model.cfm", "--all-items", "-n", "3", "--json", "--out", "sim.jsonl", NULL);
    cr_assert_eq(js.code, 0, "%s", js.err);
    char *jp = cf_test_path(dir, "sim.jsonl"), *jl = cf_test_read(jp, NULL);
    cr_assert_not_null(jl);
    int lines = 0;
    for (char *p = jl; (p = strchr(p, '\n')); p++) lines++;
    cr_assert_eq(lines, mi.n_items, "%d lines for %lld items", lines, (long long)mi.n_items);
    cr_assert(strncmp(jl, "{\"item\":", 8) == 0 && strstr(jl, "\"rank\":3"), "%.200s", jl);
    free(jl), free(jp), run_free(&js);

    free(cf_test_write(dir, "bad.txt", "17\nnothing\n", 11));
    run_result bad = cli("similar", "model.cfm", "--items", "bad.txt", NULL);
    cr_assert_eq(bad.code, 1);
    cr_assert(strstr(bad.err, "bad.txt:2: unknown item 'nothing'"), "%s", bad.err);
    cr_assert_str_empty(bad.out);
    run_free(&bad);
    bad = cli("similar", "model.cfm", "--item", "nothing", NULL);
    cr_assert_eq(bad.code, 1);
    cr_assert(strstr(bad.err, "unknown item 'nothing'"), "%s", bad.err);
    run_free(&bad);
    expect_usage("give one of --item ID, --items FILE, --all-items", cli("similar", "model.cfm", NULL));
    expect_usage("--out is for many items", cli("similar", "model.cfm", "--item", "17", "--out", "x", NULL));
    free(chars), free(offs);
    cf_model_destroy(&m);
}

/* ------------------------------------------------------------------ fold-in and explain */

/* fold-in --items --merge: item "n17" with the ratings item 17 has in data.tsv, and "nz"
 * rated only by a user the model does not know. The saved model is cf_model_fold_in's with
 * the same options, bit for bit: the model's users and items, then the two new items. */
/* A fold-in input from data.tsv's ratings (t): those whose user (column 0) or item (1)
 * is one of keys, that ID renamed "n" + ID (new to the model), the other kept, appended
 * to buf at *w as "user<TAB>item<TAB>rating" lines; returns how many. */
static int renamed_ratings(const rows *t, int column, const char *const *keys, char *buf, size_t cap, size_t *w) {
    int n = 0;
    for (int j = 0; j < t->n; j++) {
        const char *id = column ? t->item[j] : t->user[j];
        int hit = 0;
        for (int k = 0; keys[k] && !hit; k++) hit = strcmp(id, keys[k]) == 0;
        if (!hit) continue;
        *w += (size_t)snprintf(buf + *w, cap - *w, column ? "%s\tn%s\t%.17g\n" : "n%s\t%s\t%.17g\n",
                               column ? t->user[j] : id, column ? id : t->item[j], t->r[j]);
        n++;
        cr_assert_lt(*w, cap - 100);
    }
    return n;
}

Test(cli, fold_in_items_merged) {
    free(gen_and_train());
    char *dp = data_path();
    rows t = read_rows(dp);
    char buf[65536];
    size_t w = 0;
    const int n17 = renamed_ratings(&t, 1, (const char *const[]){"17", NULL}, buf, sizeof buf, &w);
    rows_free(&t);
    cr_assert_gt(n17, 0);
    w += (size_t)snprintf(buf + w, sizeof buf - w, "stranger\tnz\t4\n");
    char *fp = cf_test_write(dir, "films.tsv", buf, w);
    run_result r = cli("fold-in", "model.cfm", "films.tsv", "--items", "--merge", "--out", "films.cfm", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[256];
    snprintf(want, sizeof want,
             "fold-in: 2 items (2 new to the model) from %d ratings of films.tsv; 1 without a rating by a user the "
             "model knows (kept as they were, or zeros if new); 1 ratings of users the model does not know ignored",
             n17);
    cr_assert(strstr(r.err, want), "want '%s' in: %s", want, r.err);
    run_free(&r);
    cf_model *m = load_model(), *mine = NULL, *saved = NULL;
    cf_dataset *ds = read_dataset(fp);
    cf_error err = {0};
    cf_fold_in_options o;
    cf_fold_in_options_default(&o);
    o.items = o.merge = 1;
    cr_assert_eq(cf_model_fold_in(m, ds, &o, &mine, NULL, &err), CF_OK, "%s", err.msg);
    char *sp = cf_test_path(dir, "films.cfm");
    cr_assert_eq(cf_model_load(sp, &saved, &err), CF_OK, "%s", err.msg);
    cf_model_info a, m0;
    cf_model_info_get(saved, &a), cf_model_info_get(m, &m0);
    cr_assert(a.n_items == m0.n_items + 2 && a.n_users == m0.n_users);
    same_model_params(saved, mine, "the saved model against cf_model_fold_in's");
    double x17, xn;
    cr_assert_eq(cf_model_predict(saved, "8", "17", &x17, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_predict(saved, "8", "n17", &xn, &err), CF_OK, "%s", err.msg);
    cr_assert(isfinite(x17) && isfinite(xn));
    /* --out may be MODEL itself: read whole first, written atomically */
    size_t len0, len1;
    char *mp = cf_test_path(dir, "model.cfm"), *bytes0 = cf_test_read(mp, &len0);
    free(cf_test_write(dir, "inplace.cfm", bytes0, len0));
    r = cli("fold-in", "inplace.cfm", "films.tsv", "--items", "--merge", "--out", "inplace.cfm", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    char *ip = cf_test_path(dir, "inplace.cfm"), *bytes1 = cf_test_read(ip, &len1), *want1 = cf_test_read(sp, &len0);
    cr_assert(len0 == len1 && memcmp(bytes1, want1, len0) == 0, "in place: not the same model as films.cfm");
    free(mp), free(bytes0), free(ip), free(bytes1), free(want1);
    free(fp), free(sp), free(dp);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m), cf_model_destroy(&mine), cf_model_destroy(&saved);
}

/* fold-in: users "n8", "n7" with the ratings users 8 and 7 have in data.tsv, and "nx"
 * with one rating of an item the model does not know. The fold-in command saves what
 * cf_model_fold_in makes of the same file, bit for bit; recommend, predict and eval with
 * --fold-in give what they give with that saved model (recommend: DATA excluded); the
 * single-user and option errors. */
Test(cli, fold_in_serves_users_the_model_never_saw) {
    free(gen_and_train());
    char *dp = data_path();
    rows t = read_rows(dp);
    char hist[65536];
    size_t w = 0;
    const int n_hist = renamed_ratings(&t, 0, (const char *const[]){"8", "7", NULL}, hist, sizeof hist, &w);
    w += (size_t)snprintf(hist + w, sizeof hist - w, "nx\tzzz\t4\n");
    char *hp = cf_test_write(dir, "hist.tsv", hist, w);

    run_result r = cli("fold-in", "model.cfm", "hist.tsv", "--out", "new.cfm", "--threads", "2", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[256];
    snprintf(want, sizeof want,
             "fold-in: 3 users (3 new to the model) from %d ratings of hist.tsv; 1 without a rating of an item the "
             "model knows (zero factors: ranked by μ + b_i); 1 ratings of items the model does not know ignored",
             n_hist);
    cr_assert(strstr(r.err, want), "want '%s' in: %s", want, r.err);
    run_free(&r);
    cf_model *m = load_model(), *mine = NULL, *saved = NULL;
    cf_dataset *ds = read_dataset(hp);
    cf_error err = {0};
    cr_assert_eq(cf_model_fold_in(m, ds, NULL, &mine, NULL, &err), CF_OK, "%s", err.msg);
    char *np = cf_test_path(dir, "new.cfm");
    cr_assert_eq(cf_model_load(np, &saved, &err), CF_OK, "%s", err.msg);
    cf_model_info a;
    cf_model_info_get(saved, &a);
    cr_assert_eq(a.n_users, 3);
    same_model_params(saved, mine, "the saved model against cf_model_fold_in's");
    double x;
    cr_assert_eq(cf_model_predict(saved, "n8", "17", &x, &err), CF_OK, "%s", err.msg);

    /* recommend --fold-in: every user of hist.tsv, without what each rated there */
    run_result direct = cli("recommend", "model.cfm", "--fold-in", "hist.tsv", "-n", "5", NULL);
    run_result via = cli("recommend", "new.cfm", "--all-users", "--exclude", "hist.tsv", "-n", "5", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_eq(via.code, 0, "%s", via.err);
    cr_assert_str_eq(direct.out, via.out);
    cr_assert(strstr(direct.out, "n8\t1\t") && strstr(direct.out, "n7\t5\t") && strstr(direct.out, "nx\t5\t"), "%s",
              direct.out);
    for (int j = 0; j < t.n; j++) { /* n8's list holds none of user 8's items */
        if (strcmp(t.user[j], "8")) continue;
        char needle[64];
        snprintf(needle, sizeof needle, "n8\t%c\t%s\t", '1', t.item[j]);
        for (char c = '1'; c <= '5'; c++) {
            needle[3] = c;
            cr_assert_null(strstr(direct.out, needle), "n8 was recommended %s, rated in hist.tsv", t.item[j]);
        }
    }
    run_free(&direct), run_free(&via);
    direct = cli("recommend", "model.cfm", "--fold-in", "hist.tsv", "--user", "n7", "-n", "3", NULL);
    via = cli("recommend", "new.cfm", "--user", "n7", "--exclude", "hist.tsv", "-n", "3", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_str_eq(direct.out, via.out);
    run_free(&direct), run_free(&via);

    /* predict and eval with --fold-in: what the saved model gives */
    free(cf_test_write(dir, "pairs.tsv", "n8\t17\nn7\t2\nnx\t5\n3\t17\n", (size_t)-1));
    direct = cli("predict", "model.cfm", "pairs.tsv", "--fold-in", "hist.tsv", NULL);
    via = cli("predict", "new.cfm", "pairs.tsv", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_str_eq(direct.out, via.out);
    run_free(&direct), run_free(&via);
    direct = cli("eval", "model.cfm", "hist.tsv", "--fold-in", "hist.tsv", "--json", NULL);
    via = cli("eval", "new.cfm", "hist.tsv", "--json", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_eq(via.code, 0, "%s", via.err);
    const char *rm1 = strstr(direct.out, "\"rmse\":"), *rm2 = strstr(via.out, "\"rmse\":");
    cr_assert(rm1 && rm2 && strncmp(rm1, rm2, (size_t)(strstr(rm2, ",\"skipped\"") - rm2)) == 0, "%s\n%s",
              direct.out, via.out);
    snprintf(want, sizeof want, "\"fold_in\":{\"data\":\"hist.tsv\",\"users\":3,\"users_empty\":1,\"users_new\":3,\"ratings\":%d,"
                                "\"ratings_unknown\":1}", n_hist);
    cr_assert(strstr(direct.out, want), "want %s in %s", want, direct.out);
    run_free(&direct), run_free(&via);
    /* eval --fold-in --top: HISTORY is what the lists leave out; later.tsv holds items n8 and
     * n7 did not rate */
    char later[4096];
    size_t lw = 0;
    for (int u = 0; u < 2; u++) {
        const char *who = u ? "7" : "8";
        for (int item = 1, got = 0; item <= N_ITEMS && got < 6; item++) {
            char id[16];
            snprintf(id, sizeof id, "%d", item);
            int rated = 0;
            for (int j = 0; j < t.n && !rated; j++) rated = !strcmp(t.user[j], who) && !strcmp(t.item[j], id);
            if (rated) continue;
            lw += (size_t)snprintf(later + lw, sizeof later - lw, "n%s\t%s\t%d\n", who, id, 1 + (item % 5));
            got++;
        }
    }
    free(cf_test_write(dir, "later.tsv", later, lw));
    direct = cli("eval", "model.cfm", "later.tsv", "--fold-in", "hist.tsv", "--top", "20", "--json", NULL);
    via = cli("eval", "new.cfm", "later.tsv", "--top", "20", "--exclude", "hist.tsv", "--json", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_eq(via.code, 0, "%s", via.err);
    const char *rk1 = strstr(direct.out, "\"ranking\":"), *rk2 = strstr(via.out, "\"ranking\":");
    cr_assert(rk1 && rk2 && strstr(rk1, ",\"fold_in\":"), "%s", direct.out);
    cr_assert(strncmp(rk1, rk2, (size_t)(strstr(rk1, ",\"fold_in\":") - rk1)) == 0 && strstr(rk1, "\"users\":2,"),
              "%s\n%s", direct.out, via.out);
    run_free(&direct), run_free(&via);

    /* explain: n8's score of item 17 split over its ratings in hist.tsv, as the library splits it */
    direct = cli("explain", "model.cfm", "hist.tsv", "--user", "n8", "--item", "17", "-n", "4", "--json", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    assert_one_json_object(direct.out);
    cf_explain_term terms[4];
    int32_t nt = 0;
    cf_explanation ex;
    cr_assert_eq(cf_model_explain(m, ds, NULL, "n8", "17", 4, terms, &nt, &ex, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(nt, 4);
    cr_assert_eq(json_num(direct.out, "score"), ex.score, "%s", direct.out);
    cr_assert_eq(json_num(direct.out, "ratings"), (double)ex.ratings);
    char term0[128];
    snprintf(term0, sizeof term0, "\"terms\":[{\"item\":\"%s\",", terms[0].item);
    cr_assert(strstr(direct.out, term0), "want %s in %s", term0, direct.out);
    cr_assert_eq(cf_model_predict(saved, "n8", "17", &x, &err), CF_OK);
    cr_assert_eq(ex.score, x, "the explained score is the fold-in model's");
    run_free(&direct);
    direct = cli("explain", "model.cfm", "hist.tsv", "--user", "n8", "--item", "17", "-n", "2", "--quiet", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_str_empty(direct.err);
    snprintf(want, sizeof want, "item 17 for user n8: %.4f = %.4f (μ + b_i) %+.4f from the user's %lld ratings in hist.tsv\n",
             ex.score, ex.base, ex.score - ex.base, (long long)ex.ratings);
    cr_assert(strncmp(direct.out, want, strlen(want)) == 0, "want '%s' first in: %s", want, direct.out);
    cr_assert(strstr(direct.out, "(the other "), "%s", direct.out);
    run_free(&direct);
    r = cli("explain", "model.cfm", "hist.tsv", "--user", "8", "--item", "17", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "user '8' has no ratings"), "%s", r.err);
    run_free(&r);
    expect_usage("--item is required", cli("explain", "model.cfm", "hist.tsv", "--user", "n8", NULL));

    /* errors */
    r = cli("recommend", "model.cfm", "--fold-in", "hist.tsv", "--user", "3", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "user '3' is not in hist.tsv"), "%s", r.err);
    cr_assert_str_empty(r.out);
    run_free(&r);
    r = cli("fold-in", "model.cfm", "missing.tsv", "--out", "other.cfm", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "missing.tsv"), "%s", r.err);
    run_free(&r);
    char *op = cf_test_path(dir, "other.cfm");
    cr_assert_not(exists(op), "a failed fold-in left other.cfm");
    expect_usage("--fold-in-lambda needs --fold-in DATA", cli("recommend", "model.cfm", "--all-users",
                                                             "--fold-in-lambda", "1", NULL));
    expect_usage("--fold-in-reg needs --fold-in HISTORY", cli("eval", "model.cfm", "data.tsv", "--fold-in-reg",
                                                             "plain", NULL));
    expect_usage("--out", cli("fold-in", "model.cfm", "hist.tsv", NULL));
    free(op), free(np), free(hp), free(dp);
    rows_free(&t);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m), cf_model_destroy(&mine), cf_model_destroy(&saved);
}

/* ------------------------------------------------------------------ export */

/* Reads an .npy of float64: checks the header, fills shape, returns the data. */
static double *read_npy(const char *path, long long shape[2], int *ndim) {
    size_t len = 0;
    char *b = cf_test_read(path, &len);
    cr_assert_not_null(b, "cannot read %s", path);
    cr_assert(len >= 10 && memcmp(b, "\x93NUMPY", 6) == 0, "%s: no NumPy magic", path);
    size_t hlen, off;
    if (b[6] == 1) {
        hlen = (size_t)(unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8;
        off = 10;
    } else {
        cr_assert(b[6] == 2 || b[6] == 3, "%s: version %d", path, b[6]);
        hlen = (size_t)(unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8 | (size_t)(unsigned char)b[10] << 16 |
               (size_t)(unsigned char)b[11] << 24;
        off = 12;
    }
    cr_assert_leq(off + hlen, len);
    char *h = strndup(b + off, hlen);
    off += hlen;
    cr_assert_eq(off % 16, 0, "%s: data not aligned (%zu)", path, off);
    cr_assert(strstr(h, "'descr': '<f8'"), "%s: %s", path, h);
    cr_assert(strstr(h, "'fortran_order': False"), "%s: %s", path, h);
    const char *s = strstr(h, "'shape': (");
    cr_assert_not_null(s, "%s: %s", path, h);
    shape[0] = shape[1] = 1;
    *ndim = sscanf(s, "'shape': (%lld, %lld)", &shape[0], &shape[1]);
    if (*ndim == 2 && strstr(s, ",)")) *ndim = 1; /* (n,) */
    cr_assert(*ndim >= 1, "%s: %s", path, h);
    if (*ndim == 1) shape[1] = 1;
    cr_assert_eq(len - off, (size_t)(shape[0] * shape[1]) * 8, "%s: %zu data bytes for shape %lld×%lld", path,
                 len - off, shape[0], shape[1]);
    double *x = malloc(len - off + 8);
    memcpy(x, b + off, len - off);
    free(h);
    free(b);
    return x;
}

/* Lines of a text file as strings (one ID per line). */
static char **read_lines(const char *path, int *n) {
    char *text = cf_test_read(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    int cap = 16;
    char **v = malloc(sizeof *v * (size_t)cap);
    *n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (*n == cap) v = realloc(v, sizeof *v * (size_t)(cap *= 2));
        v[(*n)++] = strdup(line);
    }
    free(text);
    return v;
}

static int index_of(char **v, int n, const char *s) {
    for (int k = 0; k < n; k++)
        if (strcmp(v[k], s) == 0) return k;
    return -1;
}

Test(cli, export_npy_reproduces_the_predictions) {
    free(gen_and_train());
    run_result r = cli("export", "model.cfm", "--npy", "npy", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "{P,Q,user_bias,item_bias,user_ratings,item_ratings}.npy"),
              "a trained model keeps its counts, and they are exported: %s", r.out);
    run_free(&r);
    cf_model *m = load_model();
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    char *npy = cf_test_path(dir, "npy");
    const char *names[] = {"P.npy", "Q.npy", "user_bias.npy", "item_bias.npy", "users.txt", "items.txt", "meta.json"};
    char *path[7];
    for (int k = 0; k < 7; k++) {
        path[k] = cf_test_path(npy, names[k]);
        cr_assert(exists(path[k]), "%s missing", path[k]);
    }
    long long sp[2], sq[2], sbu[2], sbi[2];
    int nd;
    double *P = read_npy(path[0], sp, &nd);
    cr_assert(nd == 2 && sp[0] == mi.n_users && sp[1] == mi.factors && mi.factors == 3, "P shape %lld×%lld", sp[0],
              sp[1]);
    double *Q = read_npy(path[1], sq, &nd);
    cr_assert(nd == 2 && sq[0] == mi.n_items && sq[1] == mi.factors, "Q shape %lld×%lld", sq[0], sq[1]);
    double *bu = read_npy(path[2], sbu, &nd);
    cr_assert(nd == 1 && sbu[0] == mi.n_users);
    double *bi = read_npy(path[3], sbi, &nd);
    cr_assert(nd == 1 && sbi[0] == mi.n_items);
    int nu, ni;
    char **users = read_lines(path[4], &nu), **items = read_lines(path[5], &ni);
    cr_assert_eq(nu, mi.n_users);
    cr_assert_eq(ni, mi.n_items);
    /* r̂ = μ + b_u + b_i + P[u]·Q[i] from the exported arrays equals the library's */
    char *dp = data_path();
    rows t = read_rows(dp);
    for (int k = 0; k < t.n; k += 97) {
        int u = index_of(users, nu, t.user[k]), i = index_of(items, ni, t.item[k]);
        double want = predict_or_nan(m, t.user[k], t.item[k]);
        if (isnan(want)) continue;
        cr_assert(u >= 0 && i >= 0, "%s / %s not in the exported ID lists", t.user[k], t.item[k]);
        double x = mi.mu + bu[u] + bi[i];
        for (int f = 0; f < mi.factors; f++) x += P[(size_t)u * 3 + f] * Q[(size_t)i * 3 + f];
        cr_assert(fabs(x - want) <= 1e-9, "%s %s: from npy %.17g, library %.17g", t.user[k], t.item[k], x, want);
    }
    rows_free(&t);
    for (int k = 0; k < nu; k++) free(users[k]);
    for (int k = 0; k < ni; k++) free(items[k]);
    free(users), free(items), free(P), free(Q), free(bu), free(bi), free(dp), free(npy);
    for (int k = 0; k < 7; k++) free(path[k]);
    cf_model_destroy(&m);
}

/* ------------------------------------------------------------------ eval --top */

/* The generated data split into a.tsv (4 of 5 lines) and b.tsv (every 5th), and m.cfm
 * trained on a.tsv alone (no test part); *t the file's lines, *a and *b the two paths. */
static void split_and_train(rows *t, char **dp, char **a, char **b) {
    gen_data();
    *dp = data_path();
    *t = read_rows(*dp);
    *a = cf_test_path(dir, "a.tsv"), *b = cf_test_path(dir, "b.tsv");
    FILE *fa = fopen(*a, "w"), *fb = fopen(*b, "w");
    for (int k = 0; k < t->n; k++) fprintf(k % 5 == 0 ? fb : fa, "%s\t%s\t%.17g\n", t->user[k], t->item[k], t->r[k]);
    fclose(fa), fclose(fb);
    run_result r = cli("train", "a.tsv", "--test-ratio", "0", "--factors", "3", "--iters", "5", "--model", "m.cfm",
                       "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
}

/* eval --top: the JSON's ranking is the library's (cf_model_rank_evaluate on the same
 * files, read with the CLI's defaults), the text form has the table, and the ranking
 * options without --top are usage errors. */
Test(cli, eval_top_is_the_library_ranking) {
    rows t;
    char *dp, *a, *b;
    split_and_train(&t, &dp, &a, &b);
    run_result r = cli("eval", "m.cfm", "b.tsv", "--top", "7", "--exclude", "a.tsv", "--relevant-min", "3.5",
                       "--threads", "2", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);

    cf_error err = {0};
    cf_model *m = NULL;
    char *mp = cf_test_path(dir, "m.cfm");
    cr_assert_eq(cf_model_load(mp, &m, &err), CF_OK, "%s", err.msg);
    cf_dataset *test = read_dataset(b), *ex = read_dataset(a);
    cf_rank_report want;
    cr_assert_eq(cf_model_rank_evaluate(m, test, ex, 7, 3.5, 1, NULL, NULL, &want, &err), CF_OK, "%s", err.msg);
    cr_assert_gt(want.users, 50, "a ranking over many users");
    const char *rk = strstr(r.out, "\"ranking\":"), *pop = rk ? strstr(rk, "\"popular\":") : NULL;
    cr_assert(rk && pop, "%s", r.out);
    cr_assert_eq(json_num(rk, "n"), 7);
    cr_assert_eq(json_num(rk, "relevant_min"), 3.5);
    cr_assert_eq(json_num(rk, "users"), (double)want.users);
    cr_assert_eq(json_num(rk, "relevant"), (double)want.relevant);
    cr_assert_eq(json_num(rk, "relevant_excluded"), (double)want.relevant_excluded);
    same_ranking_json(rk, pop, &want);
    run_free(&r);

    r = cli("eval", "m.cfm", "b.tsv", "--top", "7", "--exclude", "a.tsv", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "ranking top 7:") && strstr(r.out, "precision@7") && strstr(r.out, "popular") &&
                  strstr(r.out, "coverage"),
              "%s", r.out);
    cr_assert_eq(r.err[0], '\0', "--quiet: nothing on stderr: %s", r.err);
    run_free(&r);
    expect_usage("--exclude needs --top N", cli("eval", "m.cfm", "b.tsv", "--exclude", "a.tsv", NULL));
    expect_usage("--relevant-min needs --top N", cli("eval", "m.cfm", "b.tsv", "--relevant-min", "4", NULL));
    r = cli("eval", "m.cfm", "b.tsv", "--top", "3", "--exclude", "missing.tsv", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "missing.tsv"), "%s", r.err);
    run_free(&r);

    cf_dataset_destroy(&test), cf_dataset_destroy(&ex);
    cf_model_destroy(&m);
    rows_free(&t);
    free(a), free(b), free(dp), free(mp);
}

/* The hint under eval --top's table: on stderr exactly when the model's precision is more
 * than two paired standard errors below popularity's (the rule, read back from the same
 * run's JSON); a case of each kind is checked to be one. Never with --quiet, nor without
 * --exclude (no popularity column). */
static int hint_expected(const char *json) {
    const char *rk = strstr(json, "\"ranking\":"), *mo = rk ? strstr(rk, "\"model\":{") : NULL,
               *po = rk ? strstr(rk, "\"popular\":{") : NULL, *dse = rk ? strstr(rk, "\"difference_se\":{") : NULL;
    cr_assert(mo && po && dse, "%s", json);
    return json_num(mo, "precision") - json_num(po, "precision") < -2 * json_num(dse, "precision");
}

Test(cli, eval_top_hints_when_the_model_ranks_below_popularity) {
    rows t;
    char *dp, *a, *b;
    split_and_train(&t, &dp, &a, &b); /* m.cfm: every rating relevant, popularity far ahead */
    run_result r = cli("train", "data.tsv", "--test-ratio", "0", "--factors", "3", "--iters", "5", "--model",
                       "seen.cfm", "--quiet", NULL); /* has seen b.tsv: ahead on its high ratings */
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    const struct { const char *model, *relevant_min; int want; } cases[] = {{"m.cfm", "0", 1}, {"seen.cfm", "4.5", 0}};
    for (int c = 0; c < 2; c++) {
        r = cli("eval", cases[c].model, "b.tsv", "--top", "7", "--exclude", "a.tsv", "--json",
                cases[c].relevant_min[0] == '0' ? NULL : "--relevant-min", cases[c].relevant_min, NULL);
        cr_assert_eq(r.code, 0, "%s", r.err);
        const int want = hint_expected(r.out);
        cr_assert_eq(want, cases[c].want, "case %d is not the kind it stands for: %s", c, r.out);
        const char *h = strstr(r.err, "hint: the model ranks below popularity (precision@7 ");
        cr_assert_eq(h != NULL, want, "case %d: hint %s expected:\n%s", c, want ? "" : "not", r.err);
        if (want)
            cr_assert(strstr(h, "--min-ratings M") && strstr(h, "cufactor cv DATA --grid lambda=... --bias-reg plain --grid bias-lambda=") &&
                          strstr(h, "--select precision@7"),
                      "the hint names the remedies: %s", h);
        run_free(&r);
    }
    r = cli("eval", "m.cfm", "b.tsv", "--top", "7", "--exclude", "a.tsv", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(r.err[0], '\0', "--quiet: no hint: %s", r.err);
    run_free(&r);
    r = cli("eval", "m.cfm", "b.tsv", "--top", "7", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_null(strstr(r.err, "hint:"), "no popularity column, no hint: %s", r.err);
    run_free(&r);
    rows_free(&t);
    free(a), free(b), free(dp);
}

/* recommend / similar / eval --min-ratings M: the model's rating counts are each row's
 * ratings in the training file (counted here); the lists of --user, --all-users, --item and
 * similar's are the full lists (-n all) with the rows below M left out; eval's ranking is the library's on
 * cf_model_subset of those items while its RMSE stays the whole model's; a model file of
 * version 1 (no counts) is an error naming it; --min-ratings needs --top. */
Test(cli, min_ratings_ranks_only_rows_fit_to_enough_ratings) {
    rows t;
    char *dp, *a, *b;
    split_and_train(&t, &dp, &a, &b);
    run_result r;
    cf_error err = {0};
    cf_model *m = NULL;
    char *mp = cf_test_path(dir, "m.cfm");
    cr_assert_eq(cf_model_load(mp, &m, &err), CF_OK, "%s", err.msg);
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    cf_dataset *ds = read_dataset(a), *test = read_dataset(b);
    int64_t *cnt[2];
    for (int sd = 0; sd < 2; sd++) { /* the counts are the rows' ratings in a.tsv */
        const int64_t n = sd ? mi.n_items : mi.n_users;
        cnt[sd] = malloc(sizeof(int64_t) * (size_t)n);
        cr_assert_eq(cf_model_rating_counts(m, sd ? CF_ITEMS : CF_USERS, cnt[sd], &err), CF_OK, "%s", err.msg);
        const cf_idmap *mm = sd ? m->items : m->users, *dm = sd ? ds->items : ds->users;
        for (int64_t row = 0; row < n; row++) {
            size_t len;
            const char *id = cf_idmap_name(mm, (uint32_t)row, &len);
            const int64_t d = cf_idmap_find(dm, id, len);
            int64_t c = 0;
            for (int64_t j = 0; j < ds->all.n; j++) c += (sd ? ds->all.i[j] : ds->all.u[j]) == (uint32_t)d;
            cr_assert_eq(cnt[sd][row], c, "side %d row %lld", sd, (long long)row);
        }
    }
    /* M: the median item count, so that about half the items drop out */
    int64_t M = 0;
    for (int64_t i = 0; i < mi.n_items; i++) {
        int64_t below = 0;
        for (int64_t j = 0; j < mi.n_items; j++) below += cnt[1][j] < cnt[1][i];
        if (2 * below <= mi.n_items && cnt[1][i] > M) M = cnt[1][i];
    }
    int64_t kept = 0;
    for (int64_t i = 0; i < mi.n_items; i++) kept += cnt[1][i] >= M;
    cr_assert(kept > 10 && kept < mi.n_items, "M = %lld keeps %lld of %lld", (long long)M, (long long)kept,
              (long long)mi.n_items);
    char ms[32], all[32], line[128];
    snprintf(ms, sizeof ms, "%lld", (long long)M);
    snprintf(all, sizeof all, "%lld", (long long)mi.n_items);
    /* one user: the first 5 of the full list that are fit to >= M ratings */
    const char *user = t.user[0];
    run_result full = cli("recommend", "m.cfm", "--user", user, "-n", all, "--exclude", "a.tsv", NULL);
    r = cli("recommend", "m.cfm", "--user", user, "-n", "5", "--exclude", "a.tsv", "--min-ratings", ms, NULL);
    cr_assert(full.code == 0 && r.code == 0, "%s%s", full.err, r.err);
    snprintf(line, sizeof line, "min-ratings: %lld of %lld items were fit to at least %lld ratings", (long long)kept,
             (long long)mi.n_items, (long long)M);
    cr_assert(strstr(r.err, line), "%s", r.err);
    char *want = calloc(1, strlen(full.out) + 1), *text = strdup(full.out);
    int k = 0;
    for (char *ln = strtok(text, "\n"); ln && k < 5; ln = strtok(NULL, "\n")) {
        int rank;
        char item[64];
        double sc;
        cr_assert_eq(sscanf(ln, "%d\t%63[^\t]\t%lf", &rank, item, &sc), 3, "%s", ln);
        const int64_t row = cf_idmap_find(m->items, item, strlen(item));
        cr_assert_geq(row, 0);
        if (cnt[1][row] < M) continue;
        const char *tab = strchr(ln, '\t');
        sprintf(want + strlen(want), "%d%s\n", ++k, tab);
    }
    cr_assert_eq(k, 5);
    cr_assert_str_eq(r.out, want, "floored list\n%s\nfull list\n%s", r.out, full.out);
    free(want), free(text), run_free(&r), run_free(&full);
    /* every user: no item below M in any list */
    r = cli("recommend", "m.cfm", "--all-users", "-n", "4", "--exclude", "a.tsv", "--min-ratings", ms, NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    text = strdup(r.out);
    int lines = 0;
    for (char *ln = strtok(text, "\n"); ln; ln = strtok(NULL, "\n"), lines++) {
        char u[64], item[64];
        int rank;
        cr_assert_eq(sscanf(ln, "%63[^\t]\t%d\t%63[^\t]", u, &rank, item), 3, "%s", ln);
        const int64_t row = cf_idmap_find(m->items, item, strlen(item));
        cr_assert(row >= 0 && cnt[1][row] >= M, "%s: item %s fit to %lld ratings", u, item,
                  (long long)(row >= 0 ? cnt[1][row] : -1));
    }
    cr_assert_eq(lines, 4 * (int)mi.n_users);
    free(text), run_free(&r);
    /* users for an item: the floor is on the users */
    r = cli("recommend", "m.cfm", "--item", t.item[0], "-n", "200", "--min-ratings", "30", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "users were fit to at least 30 ratings and may be listed"), "%s", r.err);
    text = strdup(r.out);
    lines = 0;
    for (char *ln = strtok(text, "\n"); ln; ln = strtok(NULL, "\n"), lines++) {
        char u[64];
        int rank;
        cr_assert_eq(sscanf(ln, "%d\t%63[^\t]", &rank, u), 2, "%s", ln);
        const int64_t row = cf_idmap_find(m->users, u, strlen(u));
        cr_assert(row >= 0 && cnt[0][row] >= 30, "user %s", u);
    }
    int64_t users30 = 0;
    for (int64_t u = 0; u < mi.n_users; u++) users30 += cnt[0][u] >= 30;
    cr_assert_eq(lines, (int)users30, "every user fit to >= 30 ratings, no other");
    free(text), run_free(&r);

    /* similar: the full list without the items below M; the query itself may be below it */
    int64_t low = -1;
    for (int64_t i = 0; i < mi.n_items && low < 0; i++)
        if (cnt[1][i] < M) low = i;
    size_t qlen;
    const char *qp = cf_idmap_name(m->items, (uint32_t)low, &qlen);
    char query[64];
    snprintf(query, sizeof query, "%.*s", (int)qlen, qp);
    full = cli("similar", "m.cfm", "--item", query, "-n", all, NULL);
    r = cli("similar", "m.cfm", "--item", query, "-n", "5", "--min-ratings", ms, NULL);
    cr_assert(full.code == 0 && r.code == 0, "%s%s", full.err, r.err);
    cr_assert(strstr(r.err, "items were fit to at least") && strstr(r.err, "may be listed"), "%s", r.err);
    want = calloc(1, strlen(full.out) + 1), text = strdup(full.out);
    k = 0;
    for (char *ln = strtok(text, "\n"); ln && k < 5; ln = strtok(NULL, "\n")) {
        int rank;
        char item[64];
        cr_assert_eq(sscanf(ln, "%d\t%63[^\t]", &rank, item), 2, "%s", ln);
        if (cnt[1][cf_idmap_find(m->items, item, strlen(item))] < M) continue;
        sprintf(want + strlen(want), "%d%s\n", ++k, strchr(ln, '\t'));
    }
    cr_assert_str_eq(r.out, want, "floored list\n%s\nfull list\n%s", r.out, full.out);
    free(want), free(text), run_free(&r), run_free(&full);

    /* eval --top: the library's ranking on the subset; the RMSE the whole model's */
    uint8_t *keep = malloc((size_t)mi.n_items);
    for (int64_t i = 0; i < mi.n_items; i++) keep[i] = cnt[1][i] >= M;
    cf_model *sub = NULL;
    cr_assert_eq(cf_model_subset(m, NULL, keep, &sub, &err), CF_OK, "%s", err.msg);
    cf_rank_report rk;
    cr_assert_eq(cf_model_rank_evaluate(sub, test, ds, 7, NAN, 1, NULL, NULL, &rk, &err), CF_OK, "%s", err.msg);
    cf_eval_report ev;
    cr_assert_eq(cf_model_evaluate(m, test, &ev, &err), CF_OK, "%s", err.msg);
    r = cli("eval", "m.cfm", "b.tsv", "--top", "7", "--exclude", "a.tsv", "--min-ratings", ms, "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    const char *rj = strstr(r.out, "\"ranking\":"), *pop = rj ? strstr(rj, "\"popular\":") : NULL;
    cr_assert(rj && pop, "%s", r.out);
    cr_assert_eq(json_num(r.out, "rmse"), ev.rmse, "the RMSE is the whole model's");
    cr_assert_eq(json_num(r.out, "min_ratings"), (double)M);
    cr_assert_eq(json_num(rj, "relevant_unknown"), (double)rk.relevant_unknown);
    cr_assert_gt(rk.relevant_unknown, 0, "relevant items below M count as unknown");
    same_ranking_json(rj, pop, &rk);
    run_free(&r);
    r = cli("eval", "m.cfm", "b.tsv", "--top", "7", "--exclude", "a.tsv", "--min-ratings", ms, "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "only items fit to at least") && r.err[0] == '\0', "%s%s", r.out, r.err);
    run_free(&r);
    expect_usage("--min-ratings needs --top N", cli("eval", "m.cfm", "b.tsv", "--min-ratings", "3", NULL));
    expect_usage("--min-ratings", cli("recommend", "m.cfm", "--user", user, "--min-ratings", "-1", NULL));

    /* a version-1 file: no counts; the floor says which file and what to do; info says so */
    free(m->n_ratings[0]), free(m->n_ratings[1]);
    m->n_ratings[0] = m->n_ratings[1] = NULL;
    char *v1 = cf_test_path(dir, "v1.cfm");
    cr_assert_eq(cf_model_save(m, v1, &err), CF_OK, "%s", err.msg);
    r = cli("recommend", "v1.cfm", "--user", user, "--min-ratings", "2", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "v1.cfm: --min-ratings needs the rating counts") && strstr(r.err, "train it again"), "%s",
              r.err);
    cr_assert_str_empty(r.out);
    run_free(&r);
    r = cli("recommend", "v1.cfm", "--user", user, "-n", "3", NULL); /* without the floor: as before */
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli("info", "v1.cfm", NULL);
    cr_assert(r.code == 0 && strstr(r.out, "not kept (a model file of version 1)"), "%s", r.out);
    run_free(&r);

    cf_model_destroy(&sub), cf_model_destroy(&m);
    cf_dataset_destroy(&ds), cf_dataset_destroy(&test);
    free(cnt[0]), free(cnt[1]), free(keep), free(v1);
    rows_free(&t);
    free(a), free(b), free(dp), free(mp);
}

/* ------------------------------------------------------------------ info */

/* info on a model: the dimensions and μ are cf_model_info's, the config's fields its own,
 * the norms' extremes those of the rows computed here in the same order (so equal). */
Test(cli, info_tells_what_a_model_holds) {
    free(gen_and_train());
    run_result r = cli("info", "model.cfm", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    cf_model *m = load_model();
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    char kind[32];
    cr_assert(json_str(r.out, "kind", kind, sizeof kind) && strcmp(kind, "model") == 0, "%s", r.out);
    cr_assert_eq(json_num(r.out, "users"), (double)mi.n_users);
    cr_assert_eq(json_num(r.out, "items"), (double)mi.n_items);
    cr_assert_eq(json_num(r.out, "factors"), 3.0);
    cr_assert_eq(json_num(r.out, "mu"), mi.mu);
    const char *cfg = json_value(r.out, "config");
    cr_assert(cfg && json_num(cfg, "factors") == 3.0 && json_num(cfg, "seed") == 11.0 && json_num(cfg, "iters") == 8.0,
              "%s", r.out);
    double *P = malloc(sizeof(double) * (size_t)mi.n_users * 3), *bu = malloc(sizeof(double) * (size_t)mi.n_users);
    cr_assert(P && bu);
    cf_model_params(m, P, NULL, bu, NULL);
    double pmax = 0, bmin = INFINITY;
    for (int64_t u = 0; u < mi.n_users; u++) {
        double sq = 0;
        for (int k = 0; k < 3; k++) sq += P[u * 3 + k] * P[u * 3 + k];
        pmax = fmax(pmax, sqrt(sq)), bmin = fmin(bmin, bu[u]);
    }
    cr_assert_eq(json_num(json_value(r.out, "user_norm"), "max"), pmax);
    cr_assert_eq(json_num(json_value(r.out, "user_bias"), "min"), bmin);
    int64_t *cnt = malloc(sizeof(int64_t) * (size_t)mi.n_items), cmax = 0;
    cr_assert_eq(cf_model_rating_counts(m, CF_ITEMS, cnt, &(cf_error){0}), CF_OK);
    for (int64_t i = 0; i < mi.n_items; i++) cmax = cnt[i] > cmax ? cnt[i] : cmax;
    cr_assert_eq(json_num(json_value(r.out, "item_ratings"), "max"), (double)cmax);
    free(cnt);
    run_free(&r);
    r = cli("info", "model.cfm", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[128];
    snprintf(want, sizeof want, "users        %lld\nitems        %lld\nfactors      3, biases on", (long long)mi.n_users,
             (long long)mi.n_items);
    cr_assert(strstr(r.out, want) && strstr(r.out, "checksum verified") && strstr(r.out, "seed=11") &&
                  strstr(r.out, "ratings/item min"),
              "%s", r.out);
    run_free(&r);
    /* a damaged model names the file; no FILE is a usage error */
    size_t len;
    char *mp = model_file(), *bytes = cf_test_read(mp, &len);
    bytes[len / 2] ^= 0x40;
    free(cf_test_write(dir, "bad.cfm", bytes, len));
    r = cli("info", "bad.cfm", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "bad.cfm") && strstr(r.err, "checksum"), "%s", r.err);
    cr_assert_str_empty(r.out);
    run_free(&r);
    expect_usage("FILE", cli("info", NULL));
    free(mp), free(bytes), free(P), free(bu);
    cf_model_destroy(&m);
}

/* info on ratings, text and binary: a hand file whose numbers are known. u1 rates i1 twice
 * (the last, 2, kept): ratings 2, 3, 4, 1 over 3 users and 3 items. */
Test(cli, info_tells_what_a_ratings_file_holds) {
    static const char text[] = "u1\ti1\t5\nu1\ti2\t3\nu2\ti1\t4\nu3\ti3\t1\nu1\ti1\t2\n";
    free(cf_test_write(dir, "tiny.tsv", text, sizeof text - 1));
    run_result c = cli("convert", "tiny.tsv", "tiny.cfd", "--quiet", NULL);
    cr_assert_eq(c.code, 0, "%s", c.err);
    run_free(&c);
    for (int bin = 0; bin <= 1; bin++) {
        run_result r = cli("info", bin ? "tiny.cfd" : "tiny.tsv", "--json", NULL);
        cr_assert_eq(r.code, 0, "%s", r.err);
        assert_one_json_object(r.out);
        char fmt[32];
        cr_assert(json_str(r.out, "format", fmt, sizeof fmt) && strcmp(fmt, bin ? "binary" : "delimited") == 0);
        cr_assert(json_num(r.out, "users") == 3 && json_num(r.out, "items") == 3 && json_num(r.out, "ratings") == 4,
                  "%s", r.out);
        cr_assert_eq(json_num(r.out, "duplicates"), bin ? 0.0 : 1.0);
        cr_assert_eq(json_num(r.out, "density"), 4.0 / 9.0);
        const char *rt = json_value(r.out, "rating");
        cr_assert(json_num(rt, "min") == 1 && json_num(rt, "mean") == 2.5 && json_num(rt, "max") == 4, "%s", r.out);
        cr_assert(strstr(r.out, "\"values\":[1,2,3,4]"), "%s", r.out);
        for (int side = 0; side < 2; side++) {
            const char *o = json_value(r.out, side ? "per_item" : "per_user");
            cr_assert(json_num(o, "min") == 1 && json_num(o, "median") == 1 && json_num(o, "mean") == 4.0 / 3 &&
                          json_num(o, "max") == 2,
                      "%s", r.out);
        }
        run_free(&r);
    }
    run_result r = cli("info", "tiny.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "delimited (tab)") && strstr(r.out, "ratings      4 (density 44.44 %)") &&
                  strstr(r.out, "values       1 2 3 4\n") &&
                  strstr(r.out, "per user     min 1  median 1  mean 1.33333  max 2"),
              "%s", r.out);
    run_free(&r);
    static const char bad[] = "u1\ti1\t5\nu2\ti1\tfive\n";
    free(cf_test_write(dir, "bad.tsv", bad, sizeof bad - 1));
    r = cli("info", "bad.tsv", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "bad.tsv:2"), "%s", r.err);
    run_free(&r);
}

/* Every input of the CLI may be gzip-compressed (recognized by its magic, whatever the
 * name): train, eval, info and recommend --exclude read the ratings inside, predict its
 * pairs and recommend --users its list, with the plain file's results; an --out named
 * *.gz is written compressed. */
Test(cli, gzip_inputs_read_as_their_text) {
    char *plain_json = gen_and_train();
    char *dp = data_path(), *gz = cf_test_path(dir, "data.gz");
    cr_assert_eq(cf_test_gzip_file(dp, gz, 3), 0);
    run_result r = cli("train", "data.gz", "--factors", "3", "--iters", "8", "--threads", "2", "--seed", "11",
                       "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "read data.gz: gzip: delimited (tab), 6000 ratings"), "%s", r.err);
    cr_assert_eq(json_num(r.out, "test_rmse"), json_num(plain_json, "test_rmse"));
    cr_assert_eq(json_num(r.out, "train_rmse"), json_num(plain_json, "train_rmse"));
    run_free(&r);

    run_result a = cli("eval", "model.cfm", "data.tsv", "--json", NULL), b = cli("eval", "model.cfm", "data.gz", "--json", NULL);
    cr_assert(a.code == 0 && b.code == 0, "%s | %s", a.err, b.err);
    cr_assert_eq(json_num(b.out, "rmse"), json_num(a.out, "rmse"));
    run_free(&a), run_free(&b);

    struct stat st;
    cr_assert_eq(stat(gz, &st), 0);
    r = cli("info", "data.gz", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(json_num(r.out, "compressed"), (double)st.st_size);
    cr_assert_eq(stat(dp, &st), 0);
    cr_assert_eq(json_num(r.out, "bytes"), (double)st.st_size);
    run_free(&r);
    r = cli("info", "data.tsv", "--json", NULL);
    cr_assert(strstr(r.out, "\"compressed\":null"), "%s", r.out);
    run_free(&r);

    /* predict's pairs and recommend's --users list, compressed: the same output */
    rows t = read_rows(dp);
    char *pairs = cf_test_path(dir, "pairs.tsv"), *users = cf_test_path(dir, "users.txt");
    FILE *fp = fopen(pairs, "w"), *fu = fopen(users, "w");
    for (int k = 0; k < 50; k++) fprintf(fp, "%s\t%s\n", t.user[k], t.item[k]), fprintf(fu, "%s\n", t.user[k]);
    fclose(fp), fclose(fu);
    char *pairs_gz = cf_test_path(dir, "pairs.gz"), *users_gz = cf_test_path(dir, "users.gz");
    cr_assert(cf_test_gzip_file(pairs, pairs_gz, 1) == 0 && cf_test_gzip_file(users, users_gz, 2) == 0);
    a = cli("predict", "model.cfm", "pairs.tsv", NULL), b = cli("predict", "model.cfm", "pairs.gz", NULL);
    cr_assert(a.code == 0 && b.code == 0, "%s | %s", a.err, b.err);
    cr_assert_str_eq(b.out, a.out);
    cr_assert_gt(strlen(a.out), 50 * 5);
    run_free(&b);
    /* and an --out named *.gz is written gzip-compressed: the same text inside */
    b = cli("predict", "model.cfm", "pairs.gz", "--out", "pred.tsv.gz", NULL);
    cr_assert_eq(b.code, 0, "%s", b.err);
    char *pred = cf_test_path(dir, "pred.tsv.gz");
    size_t plen;
    char *pz = cf_test_read(pred, &plen);
    cr_assert(pz && plen > 2 && (unsigned char)pz[0] == 0x1f && (unsigned char)pz[1] == 0x8b);
    size_t nback;
    char *back = cf_test_read_text(pred, &nback);
    cr_assert_str_eq(back, a.out);
    free(back), free(pz), free(pred);
    run_free(&a), run_free(&b);
    a = cli("recommend", "model.cfm", "--users", "users.txt", "-n", "3", "--exclude", "data.tsv", NULL);
    b = cli("recommend", "model.cfm", "--users", "users.gz", "-n", "3", "--exclude", "data.gz", NULL);
    cr_assert(a.code == 0 && b.code == 0, "%s | %s", a.err, b.err);
    cr_assert_str_eq(b.out, a.out);
    run_free(&a), run_free(&b);

    /* a model or checkpoint named *.gz: refused before any training (they are written
     * uncompressed) */
    const char *bin_out[][2] = {{"--model", "m.cfm.gz"}, {"--checkpoint", "c.cfc.gz"}};
    for (int k = 0; k < 2; k++) {
        r = cli("train", "data.gz", bin_out[k][0], bin_out[k][1], NULL);
        cr_assert_eq(r.code, 1, "%s", r.err);
        cr_assert(strstr(r.err, "is written uncompressed") && strstr(r.err, "name it without .gz") &&
                      !strstr(r.err, "train_rmse"),
                  "%s", r.err);
        cr_assert_eq(cf_test_count_entries(dir, bin_out[k][1]), 0);
        run_free(&r);
    }

    /* a damaged one: exit 1, the file and the byte named, nothing written */
    size_t len;
    char *bytes = cf_test_read(gz, &len);
    free(cf_test_write(dir, "cut.gz", bytes, len - 100));
    r = cli("train", "cut.gz", "--model", "cut.cfm", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "cut.gz: byte ") && strstr(r.err, "corrupt or truncated gzip data"), "%s", r.err);
    cr_assert_eq(cf_test_count_entries(dir, "cut.cfm"), 0);
    run_free(&r);
    r = cli("predict", "model.cfm", "cut.gz", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "cut.gz: byte "), "%s", r.err);
    run_free(&r);
    rows_free(&t);
    free(bytes), free(pairs), free(users), free(pairs_gz), free(users_gz), free(dp), free(gz), free(plain_json);
}

/* info on a checkpoint: the iterations done and the training's data and config. */
Test(cli, info_tells_where_a_checkpoint_stands) {
    gen_data();
    run_result r = cli("train", "data.tsv", "--factors", "3", "--iters", "3", "--checkpoint", "c.cfc",
                       "--checkpoint-every", "1", "--threads", "1", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    char *cp = cf_test_path(dir, "c.cfc");
    cf_checkpoint_info ci;
    cf_error err = {0};
    cr_assert_eq(cf_checkpoint_info_get(cp, &ci, &err), CF_OK, "%s", err.msg);
    r = cli("info", "c.cfc", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    char kind[32];
    cr_assert(json_str(r.out, "kind", kind, sizeof kind) && strcmp(kind, "checkpoint") == 0);
    cr_assert(json_num(r.out, "iter") == ci.iter && json_num(r.out, "train") == (double)ci.n_train &&
                  json_num(r.out, "users") == (double)ci.n_users,
              "%s", r.out);
    cr_assert_eq(json_num(json_value(r.out, "config"), "factors"), 3.0);
    run_free(&r);
    r = cli("info", "c.cfc", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "--resume c.cfc") && strstr(r.out, "factors=3"), "%s", r.out);
    run_free(&r);
    free(cp);
}
