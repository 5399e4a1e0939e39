/*
 * cmd_predict.c — `cufactor predict MODEL PAIRS`: r̂ for each (user, item) line of
 * PAIRS, written as "user<TAB>item<TAB>prediction" to stdout or --out.
 *
 * PAIRS: one pair per line, separated by tab, comma, space or "::" (detected on the
 * first data line and used for the whole file); further columns are ignored, blank
 * lines and lines starting with '#' are skipped, and a first line whose third column
 * is not a number (a CSV header such as "userId,movieId,rating") is skipped too. Lines
 * are split by the ratings reader's tokenizer (cf_line_split) with its limits: a UTF-8
 * BOM dropped, quoted CSV fields, NUL in a field and lines over max_line are errors; IDs
 * in messages go through cf_text_show (escaped, cut at 80 bytes).
 * A pair whose user or item the model does not know (it had no training rating) gets
 * the fallback of eval (cf_model_predict_or_mean: μ plus the known bias, or μ without
 * biases) and is counted on stderr; --unknown error makes it an error naming PAIRS:LINE
 * instead, and then nothing is written (the output is committed only when every line
 * succeeded).
 *
 * --fold-in DATA: the users of DATA with rows solved from their ratings there
 * (cli_fold_in_apply, cmd_fold_in.c) in place of the model's.
 */
#include "args.h"
#include "cli.h"
#include "fmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_number(const char *s, size_t n) {
    char buf[64], *end = NULL;
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    strtod(buf, &end);
    return *end == '\0';
}

static int model_bias(const cf_model *m) {
    cf_model_info info;
    cf_model_info_get(m, &info);
    return info.bias;
}

int cmd_predict(int argc, char **argv) {
    const char *out_path = NULL;
    static const char *const unknown_names[] = {"mean", "error", NULL};
    int unknown_error = 0;
    cli_fold_in fi = {.cmd = "predict", .lambda = NAN};
    cli_opt opts[] = {
        {.name = "out", .kind = CLI_STR, .dest = &out_path, .metavar = "FILE",
         .help = "write here (atomically, only when every line succeeded) instead of stdout"},
        {.name = "unknown", .kind = CLI_CHOICE, .dest = &unknown_error, .choices = unknown_names,
         .help = "a user or item without training ratings: mean (μ + the known bias, counted on stderr) or error"},
        CLI_FOLD_IN_OPTS(fi),
    };
    static const char *const positional[] = {"MODEL", "PAIRS", NULL};
    cli_spec spec = {
        .cmd = "predict",
        .args = "MODEL PAIRS [options]",
        .summary = "Predict ratings with a saved model for each \"user item\" line of PAIRS (tab, comma,\n"
                   "space or '::' separated; more columns ignored; blank and '#' lines skipped). Prints\n"
                   "\"user<TAB>item<TAB>prediction\" per pair. A user or item the model does not know\n"
                   "gets μ plus the known bias (μ without biases), as in eval, and is counted on stderr;\n"
                   "with --unknown error it is an error (exit 1) naming PAIRS:LINE, and no output is written.",
        .notes = "Users the model was not trained on: --fold-in DATA solves a row for each user of DATA from\n"
                 "that user's ratings there, the model's items fixed (cufactor fold-in, in memory); PAIRS\n"
                 "then names those users.",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *pos[2] = {NULL, NULL};
    int rc = cli_parse(&spec, argc, argv, pos);
    if (rc >= 0) return rc;
    const char *pairs = pos[1];
    const char *stray = cli_fold_in_stray(&spec);
    if (stray) return cli_usage_error(&spec, "%s needs --fold-in DATA", stray);

    cf_error err = {0};
    cf_model *model = NULL;
    FILE *in = NULL;
    cli_out out = {0};
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    if (cf_model_load(pos[0], &model, &err) != CF_OK ||
        (fi.path && cli_fold_in_apply(&fi, &ropt, 0, 0, &model, NULL, NULL, &err) != CF_OK)) {
        cf_model_destroy(&model);
        return cli_fail(&err);
    }
    if (cf_text_open(pairs, &in, &err) != CF_OK) {
        cf_model_destroy(&model);
        return cli_fail(&err);
    }
    if (cli_out_open(&out, out_path, &err) != 0) {
        fclose(in);
        cf_model_destroy(&model);
        return cli_fail(&err);
    }

    /* the ratings reader's tokenizer and limits (cf_line_split): BOM, NUL, max_line */
    cli_lines lines = {.in = in, .path = pairs, .max_line = ropt.max_line, .delim = -1};
    int first_data = 1;
    long long n_pred = 0, n_unknown = 0;
    rc = CLI_EXIT_OK;
    cf_line_fields lf;
    int got;
    while ((got = cli_lines_next(&lines, &lf)) > 0) {
        const long long lineno = lines.lineno;
        int nf = lf.count;
        if (first_data && nf >= 3 && !is_number(lf.field[2], lf.len[2])) { /* a header line */
            first_data = 0;
            continue;
        }
        first_data = 0;
        if (nf < 2 || !lf.len[0] || !lf.len[1]) {
            rc = cli_failf("%s:%lld: expected \"user item\", found %d field%s", pairs, lineno, nf, nf == 1 ? "" : "s");
            break;
        }
        char *user = (char *)lf.field[0], *item = (char *)lf.field[1];
        user[lf.len[0]] = 0, item[lf.len[1]] = 0; /* the separators after them are not needed */
        char su[CF_SHOW_CAP], si[CF_SHOW_CAP];
        double r;
        int unseen = 0;
        if (!unknown_error) {
            if (cf_model_predict_or_mean(model, user, item, &r, &unseen, &err) != CF_OK) {
                rc = cli_failf("%s:%lld: %s", pairs, lineno, err.msg);
                break;
            }
            n_unknown += unseen;
        } else if (cf_model_predict(model, user, item, &r, &err) != CF_OK) {
            if (err.status == CF_ERR_NOT_FOUND) {
                /* which one is unknown: a user the model knows can be given recommendations */
                cf_recommendation probe;
                int32_t n = 0;
                cf_error e2 = {0};
                int user_known = cf_model_recommend(model, user, 1, NULL, &probe, &n, &e2) != CF_ERR_NOT_FOUND;
                if (user_known)
                    rc = cli_failf("%s:%lld: unknown item '%s'", pairs, lineno,
                                   cf_text_show(si, sizeof si, item, lf.len[1]));
                else
                    rc = cli_failf("%s:%lld: unknown user '%s'", pairs, lineno,
                                   cf_text_show(su, sizeof su, user, lf.len[0]));
            } else {
                rc = cli_failf("%s:%lld: %s", pairs, lineno, err.msg);
            }
            break;
        }
        /* "user<TAB>item<TAB>%.10f\n", the number by cli_fmt_f10 (5× printf's speed) */
        char num[CLI_FMT_F10_CAP];
        const size_t nl = cli_fmt_f10(num, r);
        num[nl] = '\n';
        fwrite(user, 1, lf.len[0], out.f), putc_unlocked('\t', out.f);
        fwrite(item, 1, lf.len[1], out.f), putc_unlocked('\t', out.f);
        fwrite(num, 1, nl + 1, out.f);
        n_pred++;
    }
    if (got < 0) rc = CLI_EXIT_ERROR;
    free(lines.buf);
    fclose(in);
    if (rc == CLI_EXIT_OK) {
        if (cli_out_commit(&out, &err) != 0) rc = cli_fail(&err);
    } else {
        cli_out_abort(&out);
    }
    if (rc == CLI_EXIT_OK && out_path) fprintf(stderr, "wrote %lld predictions to %s\n", n_pred, out_path);
    if (rc == CLI_EXIT_OK && n_unknown)
        fprintf(stderr, "predict: %lld of %lld pairs have a user or item unknown to the model (no training "
                        "rating): predicted by the mean%s\n",
                n_unknown, n_pred, model_bias(model) ? " plus the known bias" : "");
    cf_model_destroy(&model);
    return rc;
}
