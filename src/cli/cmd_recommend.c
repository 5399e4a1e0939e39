/*
 * cmd_recommend.c — `cufactor recommend MODEL --user ID`: the top-N items by r̂ for
 * one user, leaving out the items that user rated in --exclude (typically the
 * training file). Prints "rank<TAB>item<TAB>score" lines, or one JSON object.
 *
 * Many users at once: --users FILE (one ID per line, its first field as the ratings
 * reader splits it; blank and '#' lines skipped) or --all-users (every user of the
 * model, in its order). cf_model_recommend_batch ranks them on --threads threads, in
 * batches of at most BATCH_BYTES of results (and 20 batches from 20,480 users on, so
 * that a terminal shows the progress; a batch's exclusions cost one sequential pass over
 * the --exclude ratings, api.c); each user gives N lines
 * "user<TAB>rank<TAB>item<TAB>score", or one JSON object per user and line (JSON
 * Lines), to --out FILE or stdout, which appear only when every user succeeded. An ID
 * of FILE the model does not know is an error naming FILE:LINE, found before any
 * ranking (cf_model_predict: a lookup).
 */
#include "args.h"
#include "cli.h"
#include "fmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BYTES ((int64_t)256 << 20)

/* A list of IDs as a cf_ids of strings, and the line of FILE each came from. */
typedef struct id_list {
    int64_t n, cap;
    char *chars;
    size_t bytes, chars_cap;
    int64_t *offsets; /* n + 1 */
    int64_t *line;    /* n, NULL for --all-users */
} id_list;

static void id_list_free(id_list *l) {
    free(l->chars), free(l->offsets), free(l->line);
    memset(l, 0, sizeof *l);
}

/* The IDs of one side of the model, in its order. Exit code (an error printed). */
static int model_ids(const cf_model *m, cf_which side, int64_t count, id_list *l) {
    memset(l, 0, sizeof *l);
    cf_error err = {0};
    size_t bytes = 0;
    if (cf_model_ids(m, side, NULL, 0, NULL, &bytes, &err) != CF_OK) return cli_fail(&err);
    l->chars = malloc(bytes ? bytes : 1);
    l->offsets = malloc((size_t)(count + 1) * sizeof *l->offsets);
    if (!l->chars || !l->offsets) {
        id_list_free(l);
        return cli_failf("out of memory for the model's IDs");
    }
    if (cf_model_ids(m, side, l->chars, bytes, l->offsets, &bytes, &err) != CF_OK) {
        id_list_free(l);
        return cli_fail(&err);
    }
    l->n = count, l->bytes = bytes;
    return CLI_EXIT_OK;
}

static int id_list_push(id_list *l, const char *s, size_t len, int64_t line) {
    if (l->n + 1 >= l->cap) {
        int64_t nc = l->cap ? 2 * l->cap : 1024;
        int64_t *o = realloc(l->offsets, (size_t)(nc + 1) * sizeof *o), *ln = o ? realloc(l->line, (size_t)nc * sizeof *ln) : NULL;
        if (o) l->offsets = o;
        if (!ln) return -1;
        l->line = ln, l->cap = nc;
    }
    if (l->bytes + len > l->chars_cap) {
        size_t nc = l->chars_cap ? 2 * l->chars_cap : 1 << 16;
        while (nc < l->bytes + len) nc *= 2;
        char *c = realloc(l->chars, nc);
        if (!c) return -1;
        l->chars = c, l->chars_cap = nc;
    }
    if (l->n == 0) l->offsets[0] = 0;
    memcpy(l->chars + l->bytes, s, len);
    l->bytes += len;
    l->line[l->n] = line;
    l->offsets[++l->n] = (int64_t)l->bytes;
    return 0;
}

/* The users of FILE: the first field of each line that is not blank or a comment. Exit
 * code (CLI_EXIT_OK, or the error printed). */
static int read_users(const char *path, size_t max_line, id_list *l) {
    memset(l, 0, sizeof *l);
    FILE *in = fopen(path, "r");
    if (!in) return cli_failf("%s: cannot open: %s", path, strerror(errno));
    cli_lines lines = {.in = in, .path = path, .max_line = max_line, .delim = -1};
    cf_line_fields lf;
    int got = 0, rc = CLI_EXIT_OK;
    while (rc == CLI_EXIT_OK && (got = cli_lines_next(&lines, &lf)) > 0) {
        if (lf.len[0] == 0)
            rc = cli_failf("%s:%lld: empty user ID", path, lines.lineno);
        else if (id_list_push(l, lf.field[0], lf.len[0], lines.lineno))
            rc = cli_failf("%s:%lld: out of memory for the users", path, lines.lineno);
    }
    if (got < 0) rc = CLI_EXIT_ERROR;
    if (rc == CLI_EXIT_OK && l->n == 0)
        rc = cli_failf("%s: no users: %lld line%s, all blank or comments", path, lines.lineno, lines.lineno == 1 ? "" : "s");
    free(lines.buf);
    fclose(in);
    if (rc != CLI_EXIT_OK) id_list_free(l);
    return rc;
}

/* ID k of l, NUL-terminated in buf (IDs are at most 65535 bytes). */
static const char *id_at(const id_list *l, int64_t k, char *buf, size_t *len) {
    *len = (size_t)(l->offsets[k + 1] - l->offsets[k]);
    memcpy(buf, l->chars + l->offsets[k], *len);
    buf[*len] = '\0';
    return buf;
}

/* One user's recommendations as output: "[user<TAB>]rank<TAB>item<TAB>score" lines (the
 * score as printf's %.10f; the user column for many users), or one JSON object
 * {"user":..., "items":[{"rank":..,"item":..,"score":..},...]} and a newline. */
static void put_open(FILE *f, int json, const char *user) {
    if (!json) return;
    int first = 1;
    fputc('{', f);
    json_key(f, &first, "user"), json_string(f, user);
    json_key(f, &first, "items");
    fputc('[', f);
}

static void put_rec(FILE *f, int json, const char *user, size_t ulen, int rank, const char *item, size_t ilen,
                    double score) {
    if (json) {
        int first = 1;
        fputs(rank > 1 ? ",{" : "{", f);
        json_key(f, &first, "rank"), fprintf(f, "%d", rank);
        json_key(f, &first, "item"), json_string(f, item);
        json_key(f, &first, "score"), json_number(f, score);
        fputc('}', f);
        return;
    }
    char num[CLI_FMT_F10_CAP];
    const size_t nl = cli_fmt_f10(num, score);
    num[nl] = '\n';
    if (user) fwrite(user, 1, ulen, f), fputc('\t', f);
    fprintf(f, "%d\t", rank);
    fwrite(item, 1, ilen, f), fputc('\t', f);
    fwrite(num, 1, nl + 1, f);
}

static void put_close(FILE *f, int json) {
    if (json) fputs("]}\n", f);
}

/* --users / --all-users: see the header. */
static int recommend_many(cf_model *model, const cf_model_info *mi, const char *users_path, int32_t n,
                          const cf_dataset *ex, int threads, int json, const char *out_path, size_t max_line) {
    cf_error err = {0};
    id_list users, items;
    int rc = users_path ? read_users(users_path, max_line, &users) : CLI_EXIT_OK;
    if (rc != CLI_EXIT_OK) return rc;
    if (!users_path && (rc = model_ids(model, CF_USERS, mi->n_users, &users)) != CLI_EXIT_OK) return rc;
    if ((rc = model_ids(model, CF_ITEMS, mi->n_items, &items)) != CLI_EXIT_OK) {
        id_list_free(&users);
        return rc;
    }
    char *name = malloc(2 * 65537), *iname = NULL; /* a user's and an item's ID, NUL-terminated */
    const int64_t nq = users.n, per = (int64_t)n * (int64_t)(sizeof(int64_t) + sizeof(double)) + (int64_t)sizeof(int32_t);
    int64_t B = BATCH_BYTES / per, twentieth = (nq + 19) / 20;
    if (B > twentieth && twentieth >= 1024) B = twentieth;
    if (B < 1) B = 1;
    if (B > nq) B = nq;
    int64_t *items_k = malloc((size_t)(B * n) * sizeof *items_k), *boffs = malloc((size_t)(B + 1) * sizeof *boffs);
    double *scores = malloc((size_t)(B * n) * sizeof *scores);
    int32_t *counts = malloc((size_t)B * sizeof *counts);
    cli_out out = {0};
    int out_open = 0;
    if (!name || !items_k || !boffs || !scores || !counts) {
        rc = cli_failf("out of memory for the recommendations of %lld users", (long long)B);
        goto done;
    }
    iname = name + 65537;
    /* every user of FILE known, before any ranking: the first unknown one by its line */
    if (users_path) {
        size_t l0;
        const char *item0 = id_at(&items, 0, iname, &l0);
        for (int64_t k = 0; k < nq; k++) {
            size_t len;
            double r;
            if (cf_model_predict(model, id_at(&users, k, name, &len), item0, &r, &err) == CF_OK) continue;
            char shown[CF_SHOW_CAP];
            if (err.status == CF_ERR_NOT_FOUND)
                rc = cli_failf("%s:%lld: unknown user '%s'", users_path, (long long)users.line[k],
                               cf_text_show(shown, sizeof shown, name, len));
            else
                rc = cli_fail(&err);
            goto done;
        }
    }
    if (cli_out_open(&out, out_path, &err) != 0) {
        rc = cli_fail(&err);
        goto done;
    }
    out_open = 1;
    cli_phase_line pl;
    cli_phase_line_init(&pl, 0);
    int64_t short_users = 0;
    for (int64_t b0 = 0; b0 < nq; b0 += B) {
        const int64_t bn = nq - b0 < B ? nq - b0 : B;
        cli_phase_show(&pl, "recommend: %lld of %lld users ...", (long long)b0, (long long)nq);
        for (int64_t k = 0; k <= bn; k++) boffs[k] = users.offsets[b0 + k] - users.offsets[b0];
        const cf_ids ids = {.n = bn, .chars = users.chars + users.offsets[b0], .offsets = boffs};
        if (cf_model_recommend_batch(model, &ids, n, ex, CF_UNKNOWN_ERROR, threads, items_k, scores, counts, &err) !=
            CF_OK) {
            cli_phase_clear(&pl);
            rc = cli_fail(&err);
            goto done;
        }
        for (int64_t k = 0; k < bn; k++) {
            size_t ul;
            id_at(&users, b0 + k, name, &ul);
            short_users += counts[k] < n;
            put_open(out.f, json, name);
            for (int32_t j = 0; j < counts[k]; j++) {
                size_t il;
                id_at(&items, items_k[k * n + j], iname, &il);
                put_rec(out.f, json, name, ul, (int)j + 1, iname, il, scores[k * n + j]);
            }
            put_close(out.f, json);
        }
    }
    cli_phase_clear(&pl);
    if (cli_out_commit(&out, &err) != 0) {
        out_open = 0;
        rc = cli_fail(&err);
        goto done;
    }
    out_open = 0;
    if (out_path) fprintf(stderr, "wrote the top %d of %lld users to %s\n", (int)n, (long long)nq, out_path);
    if (short_users)
        fprintf(stderr, "note: %lld of %lld users have fewer than %d items left to recommend%s\n", (long long)short_users,
                (long long)nq, (int)n, ex ? " after the exclusions" : "");
done:
    if (out_open) cli_out_abort(&out);
    free(name), free(items_k), free(boffs), free(scores), free(counts);
    id_list_free(&users), id_list_free(&items);
    return rc;
}

int cmd_recommend(int argc, char **argv) {
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    const char *user = NULL, *exclude = NULL, *users_path = NULL, *out_path = NULL;
    int32_t n = 10, threads = 0;
    int all_users = 0;
    int json = 0, format = (int)ropt.format;
    cli_opt opts[] = {
        {.name = "user", .kind = CLI_STR, .dest = &user, .metavar = "ID", .no_default = 1,
         .help = "the user, in the IDs of the training file (or --users, --all-users)"},
        {.name = "users", .kind = CLI_STR, .dest = &users_path, .metavar = "FILE", .no_default = 1,
         .help = "many users: one ID per line (its first field); \"user<TAB>rank<TAB>item<TAB>score\" lines"},
        {.name = "all-users", .kind = CLI_FLAG, .dest = &all_users, .flag_value = 1,
         .help = "every user of the model, in its order, as --users"},
        {.name = "n", .short_name = 'n', .kind = CLI_I32, .dest = &n, .metavar = "N", .lo = 1, .hi = 1000000,
         .help = "how many items"},
        {.name = "exclude", .kind = CLI_STR, .dest = &exclude, .metavar = "DATA",
         .help = "ratings file: leave out the items the user rated there"},
        {.name = "format", .kind = CLI_CHOICE, .dest = &format, .choices = cli_format_names,
         .help = "input format of the --exclude file"},
        {.name = "skip-bad-lines", .kind = CLI_FLAG, .dest = &ropt.skip_bad_lines, .flag_value = 1,
         .help = "skip and count malformed lines of the --exclude file"},
        {.name = "json", .kind = CLI_FLAG, .dest = &json, .flag_value = 1,
         .help = "print one JSON object: user, items [{rank, item, score}] (many users: one per line)"},
        {.name = "out", .kind = CLI_STR, .dest = &out_path, .metavar = "FILE", .no_default = 1,
         .help = "many users: write here (atomically, when every user succeeded) instead of stdout"},
        {.name = "threads", .kind = CLI_I32, .dest = &threads, .metavar = "T", .lo = 0, .hi = 4096,
         .help = "many users: threads ranking them (0 = all cores)"},
    };
    static const char *const positional[] = {"MODEL", NULL};
    cli_spec spec = {
        .cmd = "recommend",
        .args = "MODEL --user ID | --users FILE | --all-users [options]",
        .summary = "The top-N items by predicted rating for one user of a saved model, best first,\n"
                   "as \"rank<TAB>item<TAB>score\" lines; for many users (--users FILE, --all-users)\n"
                   "as \"user<TAB>rank<TAB>item<TAB>score\" lines, ranked on all cores.",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *model_path = NULL;
    int rc = cli_parse(&spec, argc, argv, &model_path);
    if (rc >= 0) return rc;
    ropt.format = (cf_format)format;
    if ((user != NULL) + (users_path != NULL) + all_users != 1)
        return cli_usage_error(&spec, "give one of --user ID, --users FILE, --all-users");
    if (user && (out_path || threads))
        return cli_usage_error(&spec, "--%s is for many users (--users, --all-users)", out_path ? "out" : "threads");

    cf_error err = {0};
    cf_model *model = NULL;
    cf_dataset *ex = NULL;
    cf_read_report rrep;
    int32_t got = 0;
    cf_model_info mi;
    if (cf_model_load(model_path, &model, &err) != CF_OK) goto fail;
    cf_model_info_get(model, &mi);
    if ((int64_t)n > mi.n_items) n = (int32_t)mi.n_items;
    cf_recommendation *rec = calloc(n > 0 ? (size_t)n : 1, sizeof *rec);
    if (!rec) {
        cf_model_destroy(&model);
        return cli_failf("out of memory for %d recommendations", (int)n);
    }
    if (exclude) {
        if (cli_dataset_read(exclude, &ropt, 0, &ex, &rrep, &err) != CF_OK) goto fail_rec;
        cli_print_read("exclude", exclude, &rrep);
    }
    if (!user) {
        free(rec);
        rc = recommend_many(model, &mi, users_path, n, ex, threads, json, out_path, ropt.max_line);
        cf_dataset_destroy(&ex);
        cf_model_destroy(&model);
        return rc;
    }
    if (cf_model_recommend(model, user, n, ex, rec, &got, &err) != CF_OK) goto fail_rec;
    if (got < n) {
        char shown[CF_SHOW_CAP];
        fprintf(stderr, "note: only %d item%s left to recommend to '%s'%s\n", (int)got, got == 1 ? "" : "s",
                cf_text_show(shown, sizeof shown, user, strlen(user)), exclude ? " after the exclusions" : "");
    }

    put_open(stdout, json, user);
    for (int32_t k = 0; k < got; k++) put_rec(stdout, json, NULL, 0, (int)k + 1, rec[k].item, strlen(rec[k].item), rec[k].score);
    put_close(stdout, json);
    free(rec);
    cf_dataset_destroy(&ex);
    cf_model_destroy(&model);
    return CLI_EXIT_OK;
fail_rec:
    free(rec);
fail:
    cf_dataset_destroy(&ex);
    cf_model_destroy(&model);
    return cli_fail(&err);
}
