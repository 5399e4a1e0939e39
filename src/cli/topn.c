/*
 * topn.c — the top-N lists of `recommend` (users: cf_model_recommend_batch) and
 * `similar` (items: cf_model_similar_items) for many queries at once, and their output.
 *
 * The queries come from FILE (one ID per line, its first field as the ratings reader
 * splits it; blank and '#' lines skipped) or are every ID of that side of the model, in
 * its order. They are ranked on --threads threads in batches of at most BATCH_BYTES of
 * results (and 20 batches from 20,480 queries on, so that a terminal shows the progress;
 * a batch's exclusions cost one sequential pass over the --exclude ratings, api.c); each
 * query gives N lines "query<TAB>rank<TAB>item<TAB>score", or one JSON object per query
 * and line (JSON Lines), to --out FILE or stdout, which appear only when every query
 * succeeded. An ID of FILE the model does not know is an error naming FILE:LINE, found
 * before any ranking (cf_model_predict: a lookup).
 */
#include "cli.h"
#include "fmt.h"

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
    int64_t *line;    /* n, NULL for every ID of the model */
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

/* The IDs of FILE (noun: "user" or "item", for messages): the first field of each line
 * that is not blank or a comment. Exit code (CLI_EXIT_OK, or the error printed). */
static int read_ids(const char *path, const char *noun, size_t max_line, id_list *l) {
    memset(l, 0, sizeof *l);
    FILE *in;
    cf_error err;
    if (cf_text_open(path, &in, &err) != CF_OK) return cli_fail(&err);
    cli_lines lines = {.in = in, .path = path, .max_line = max_line, .delim = -1};
    cf_line_fields lf;
    int got = 0, rc = CLI_EXIT_OK;
    while (rc == CLI_EXIT_OK && (got = cli_lines_next(&lines, &lf)) > 0) {
        if (lf.len[0] == 0)
            rc = cli_failf("%s:%lld: empty %s ID", path, lines.lineno, noun);
        else if (id_list_push(l, lf.field[0], lf.len[0], lines.lineno))
            rc = cli_failf("%s:%lld: out of memory for the %ss", path, lines.lineno, noun);
    }
    if (got < 0) rc = CLI_EXIT_ERROR;
    if (rc == CLI_EXIT_OK && l->n == 0)
        rc = cli_failf("%s: no %ss: %lld line%s, all blank or comments", path, noun, lines.lineno,
                       lines.lineno == 1 ? "" : "s");
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

void cli_topn_open(FILE *f, int json, const char *key, const char *query, const char *list) {
    if (!json) return;
    int first = 1;
    fputc('{', f);
    json_key(f, &first, key), json_string(f, query);
    json_key(f, &first, list);
    fputc('[', f);
}

void cli_topn_put(FILE *f, int json, const char *elem, const char *query, size_t qlen, int rank, const char *item,
                  size_t ilen, double score) {
    if (json) {
        int first = 1;
        fputs(rank > 1 ? ",{" : "{", f);
        json_key(f, &first, "rank"), fprintf(f, "%d", rank);
        json_key(f, &first, elem), json_string(f, item);
        json_key(f, &first, "score"), json_number(f, score);
        fputc('}', f);
        return;
    }
    char num[CLI_FMT_F10_CAP];
    const size_t nl = cli_fmt_f10(num, score);
    num[nl] = '\n';
    if (query) fwrite(query, 1, qlen, f), fputc('\t', f);
    fprintf(f, "%d\t", rank);
    fwrite(item, 1, ilen, f), fputc('\t', f);
    fwrite(num, 1, nl + 1, f);
}

void cli_topn_close(FILE *f, int json) {
    if (json) fputs("]}\n", f);
}

int cli_topn_many(const cli_topn *t) {
    cf_model *model = t->model;
    const cf_model_info *mi = t->mi;
    const char *ids_path = t->ids_path, *out_path = t->out_path;
    const int32_t n = t->n;
    const int threads = t->threads, json = t->json, by_user = t->side == CF_USERS;
    /* what the queries and the lists' entries are called (a transposed model's users are items) */
    const char *noun = by_user && !t->transposed ? "user" : "item", *elem = t->transposed ? "user" : "item";
    const char *list = t->transposed ? "users" : "items";
    cf_error err = {0};
    id_list queries, items; /* the queries (users or items), the model's items */
    int rc = CLI_EXIT_OK;
    if (t->one) {
        memset(&queries, 0, sizeof queries);
        if (id_list_push(&queries, t->one, strlen(t->one), 0)) return cli_failf("out of memory");
    } else if (ids_path) {
        rc = read_ids(ids_path, noun, t->max_line, &queries);
    } else {
        rc = model_ids(model, t->side, by_user ? mi->n_users : mi->n_items, &queries);
    }
    if (rc != CLI_EXIT_OK) return rc;
    if ((rc = model_ids(model, CF_ITEMS, mi->n_items, &items)) != CLI_EXIT_OK) {
        id_list_free(&queries);
        return rc;
    }
    char *name = malloc(2 * 65537), *iname = NULL; /* a user's and an item's ID, NUL-terminated */
    const int64_t nq = queries.n, per = (int64_t)n * (int64_t)(sizeof(int64_t) + sizeof(double)) + (int64_t)sizeof(int32_t);
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
        rc = cli_failf("out of memory for the lists of %lld %ss", (long long)B, noun);
        goto done;
    }
    iname = name + 65537;
    /* every ID of FILE known, before any ranking: the first unknown one by its line (a
     * prediction of it with the model's first ID of the other side is the lookup) */
    if (ids_path || t->one) {
        id_list users = {0}; /* the other side: the items are at hand, the users are loaded */
        if (!by_user && (rc = model_ids(model, CF_USERS, mi->n_users, &users)) != CLI_EXIT_OK) goto done;
        size_t l0;
        char *other0 = malloc(65537);
        if (other0) id_at(by_user ? &items : &users, 0, other0, &l0);
        id_list_free(&users);
        if (!other0) {
            rc = cli_failf("out of memory");
            goto done;
        }
        for (int64_t k = 0; k < nq && rc == CLI_EXIT_OK; k++) {
            size_t len;
            double r;
            id_at(&queries, k, name, &len);
            if (cf_model_predict(model, by_user ? name : other0, by_user ? other0 : name, &r, &err) == CF_OK) continue;
            char shown[CF_SHOW_CAP];
            if (err.status == CF_ERR_NOT_FOUND && t->one)
                rc = cli_failf("unknown %s '%s' (not in %s)", noun, cf_text_show(shown, sizeof shown, name, len),
                               t->model_path);
            else if (err.status == CF_ERR_NOT_FOUND)
                rc = cli_failf("%s:%lld: unknown %s '%s'", ids_path, (long long)queries.line[k], noun,
                               cf_text_show(shown, sizeof shown, name, len));
            else
                rc = cli_fail(&err);
        }
        free(other0);
        if (rc != CLI_EXIT_OK) goto done;
    }
    if (cli_out_open(&out, out_path, &err) != 0) {
        rc = cli_fail(&err);
        goto done;
    }
    out_open = 1;
    cli_phase_line pl;
    cli_phase_line_init(&pl, 0);
    int64_t short_lists = 0;
    for (int64_t b0 = 0; b0 < nq; b0 += B) {
        const int64_t bn = nq - b0 < B ? nq - b0 : B;
        cli_phase_show(&pl, "%s: %lld of %lld %ss ...", by_user ? "recommend" : "similar", (long long)b0,
                       (long long)nq, noun);
        for (int64_t k = 0; k <= bn; k++) boffs[k] = queries.offsets[b0 + k] - queries.offsets[b0];
        const cf_ids ids = {.n = bn, .chars = queries.chars + queries.offsets[b0], .offsets = boffs};
        const cf_status st = by_user ? cf_model_recommend_batch(model, &ids, n, t->exclude, CF_UNKNOWN_ERROR, threads,
                                                                items_k, scores, counts, &err)
                                     : cf_model_similar_items_among(model, &ids, n, t->candidates, threads, items_k,
                                                                    scores, counts, &err);
        if (st != CF_OK) {
            cli_phase_clear(&pl);
            rc = cli_fail(&err);
            goto done;
        }
        for (int64_t k = 0; k < bn; k++) {
            size_t ul;
            id_at(&queries, b0 + k, name, &ul);
            short_lists += counts[k] < n;
            cli_topn_open(out.f, json, noun, name, list);
            for (int32_t j = 0; j < counts[k]; j++) {
                size_t il;
                id_at(&items, items_k[k * n + j], iname, &il);
                cli_topn_put(out.f, json, elem, t->one ? NULL : name, ul, (int)j + 1, iname, il, scores[k * n + j]);
            }
            cli_topn_close(out.f, json);
        }
    }
    cli_phase_clear(&pl);
    if (cli_out_commit(&out, &err) != 0) {
        out_open = 0;
        rc = cli_fail(&err);
        goto done;
    }
    out_open = 0;
    if (out_path) fprintf(stderr, "wrote the top %d of %lld %ss to %s\n", (int)n, (long long)nq, noun, out_path);
    if (short_lists && t->one) /* similar --item: fewer items than n besides the query */
        fprintf(stderr, "note: only %d other item%s %s\n", (int)counts[0], counts[0] == 1 ? "" : "s",
                t->candidates ? "fit to enough ratings (--min-ratings)" : "in the model");
    else if (short_lists)
        fprintf(stderr, "note: %lld of %lld %ss have fewer than %d %s left to %s%s\n", (long long)short_lists,
                (long long)nq, noun, (int)n, list, by_user ? "recommend" : "list", t->exclude ? " after the exclusions" : "");
done:
    if (out_open) cli_out_abort(&out);
    free(name), free(items_k), free(boffs), free(scores), free(counts);
    id_list_free(&queries), id_list_free(&items);
    return rc;
}

/* ---------------------------------------------------------------- --min-ratings */

/* The floor's error for a model without counts, naming its file. */
static void floor_error(const char *model_path, cf_error *err) {
    if (err->status == CF_ERR_UNSUPPORTED)
        snprintf(err->msg, sizeof err->msg, "%.200s: --min-ratings needs the rating counts of a model file of version 2 "
                 "(this one is version 1, saved before they were kept): train it again", model_path);
}

/* The stderr line: how many of the total are left ("may be <verb>"). */
static void floor_note(int64_t kept, int64_t total, int64_t min, const char *what, const char *verb) {
    fprintf(stderr, "min-ratings: %lld of %lld %s were fit to at least %lld rating%s and may be %s\n", (long long)kept,
            (long long)total, what, (long long)min, min == 1 ? "" : "s", verb);
}

cf_status cli_min_ratings(cf_model **model, int64_t min, const char *model_path, int transposed, int quiet,
                          cf_error *err) {
    if (min <= 0) return CF_OK;
    cf_model *sub = NULL;
    if (cf_model_subset_min_ratings(*model, 0, min, &sub, err) != CF_OK) {
        floor_error(model_path, err);
        return err->status;
    }
    cf_model_info before, after;
    cf_model_info_get(*model, &before), cf_model_info_get(sub, &after);
    if (!quiet)
        floor_note(after.n_items, before.n_items, min, transposed ? "users" : "items",
                   transposed ? "listed" : "recommended");
    cf_model_destroy(model);
    *model = sub;
    return CF_OK;
}

cf_status cli_min_ratings_flags(const cf_model *model, int64_t min, const char *model_path, uint8_t **candidates,
                                cf_error *err) {
    *candidates = NULL;
    if (min <= 0) return CF_OK;
    cf_model_info mi;
    cf_model_info_get(model, &mi);
    int64_t *cnt = malloc((size_t)(mi.n_items > 0 ? mi.n_items : 1) * sizeof *cnt);
    uint8_t *keep = malloc((size_t)(mi.n_items > 0 ? mi.n_items : 1));
    if (!cnt || !keep) {
        free(cnt), free(keep);
        err->status = CF_ERR_NOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory for --min-ratings");
        return CF_ERR_NOMEM;
    }
    if (cf_model_rating_counts(model, CF_ITEMS, cnt, err) != CF_OK) {
        free(cnt), free(keep);
        floor_error(model_path, err);
        return err->status;
    }
    int64_t kept = 0;
    for (int64_t i = 0; i < mi.n_items; i++) kept += keep[i] = cnt[i] >= min;
    free(cnt);
    floor_note(kept, mi.n_items, min, "items", "listed");
    *candidates = keep;
    return CF_OK;
}
