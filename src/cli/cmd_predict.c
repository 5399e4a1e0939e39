/*
 * cmd_predict.c — `cufactor predict MODEL PAIRS`: r̂ for each (user, item) line of
 * PAIRS, written as "user<TAB>item<TAB>prediction" to stdout or --out.
 *
 * PAIRS: one pair per line, separated by tab, comma, space or "::" (detected on the
 * first data line and used for the whole file); further columns are ignored, blank
 * lines and lines starting with '#' are skipped, and a first line whose third column
 * is not a number (a CSV header such as "userId,movieId,rating") is skipped too.
 * A pair whose user or item the model does not know (it had no training rating) gets
 * the fallback of eval (cf_model_predict_or_mean: μ plus the known bias, or μ without
 * biases) and is counted on stderr; --unknown error makes it an error naming PAIRS:LINE
 * instead, and then nothing is written (the output is committed only when every line
 * succeeded).
 */
#include "args.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The delimiter of a data line: "::", tab, comma, else blanks (" "). */
static const char *detect_delimiter(const char *line) {
    if (strstr(line, "::")) return "::";
    if (strchr(line, '\t')) return "\t";
    if (strchr(line, ',')) return ",";
    return " ";
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

/* Splits `line` in place into at most `max` fields; returns the number found. */
static int split_fields(char *line, const char *delim, char **field, int max) {
    int n = 0;
    if (strcmp(delim, " ") == 0) {
        char *p = line;
        while (n < max) {
            while (*p == ' ' || *p == '\t') p++;
            if (!*p) break;
            field[n++] = p;
            while (*p && *p != ' ' && *p != '\t') p++;
            if (*p) *p++ = '\0';
        }
        return n;
    }
    size_t dl = strlen(delim);
    char *p = line;
    while (n < max) {
        char *end = strstr(p, delim);
        if (end) *end = '\0';
        field[n++] = trim(p);
        if (!end) break;
        p = end + dl;
    }
    return n;
}

static int is_number(const char *s) {
    char *end = NULL;
    if (!*s) return 0;
    strtod(s, &end);
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
    cli_opt opts[] = {
        {.name = "out", .kind = CLI_STR, .dest = &out_path, .metavar = "FILE",
         .help = "write here (atomically, only when every line succeeded) instead of stdout"},
        {.name = "unknown", .kind = CLI_CHOICE, .dest = &unknown_error, .choices = unknown_names,
         .help = "a user or item without training ratings: mean (μ + the known bias, counted on stderr) or error"},
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
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *pos[2] = {NULL, NULL};
    int rc = cli_parse(&spec, argc, argv, pos);
    if (rc >= 0) return rc;
    const char *pairs = pos[1];

    cf_error err = {0};
    cf_model *model = NULL;
    FILE *in = NULL;
    char *line = NULL;
    size_t cap = 0;
    cli_out out = {0};
    if (cf_model_load(pos[0], &model, &err) != CF_OK) return cli_fail(&err);
    in = fopen(pairs, "r");
    if (!in) {
        cf_model_destroy(&model);
        return cli_failf("%s: cannot open: %s", pairs, strerror(errno));
    }
    if (cli_out_open(&out, out_path, &err) != 0) {
        fclose(in);
        cf_model_destroy(&model);
        return cli_fail(&err);
    }

    const char *delim = NULL;
    long long lineno = 0, n_pred = 0, n_unknown = 0;
    ssize_t len;
    rc = CLI_EXIT_OK;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        int first_data = delim == NULL;
        if (first_data) delim = detect_delimiter(s);
        char *field[3];
        int nf = split_fields(s, delim, field, 3);
        if (first_data && nf >= 3 && !is_number(field[2])) continue; /* a header line */
        if (nf < 2 || !*field[0] || !*field[1]) {
            rc = cli_failf("%s:%lld: expected \"user item\", found %d field%s", pairs, lineno, nf, nf == 1 ? "" : "s");
            break;
        }
        double r;
        int unseen = 0;
        if (!unknown_error) {
            if (cf_model_predict_or_mean(model, field[0], field[1], &r, &unseen, &err) != CF_OK) {
                rc = cli_failf("%s:%lld: %s", pairs, lineno, err.msg);
                break;
            }
            n_unknown += unseen;
        } else if (cf_model_predict(model, field[0], field[1], &r, &err) != CF_OK) {
            if (err.status == CF_ERR_NOT_FOUND) {
                /* which one is unknown: a user the model knows can be given recommendations */
                cf_recommendation probe;
                int32_t n = 0;
                cf_error e2 = {0};
                int user_known = cf_model_recommend(model, field[0], 1, NULL, &probe, &n, &e2) != CF_ERR_NOT_FOUND;
                if (user_known)
                    rc = cli_failf("%s:%lld: unknown item '%s'", pairs, lineno, field[1]);
                else
                    rc = cli_failf("%s:%lld: unknown user '%s'", pairs, lineno, field[0]);
            } else {
                rc = cli_failf("%s:%lld: %s", pairs, lineno, err.msg);
            }
            break;
        }
        fprintf(out.f, "%s\t%s\t%.10f\n", field[0], field[1], r);
        n_pred++;
    }
    if (rc == CLI_EXIT_OK && ferror(in)) rc = cli_failf("%s: read error: %s", pairs, strerror(errno));
    free(line);
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
