/*
 * fmt.h — number formatting for the CLI's bulk output (predict's one line per pair).
 */
#ifndef CF_CLI_FMT_H
#define CF_CLI_FMT_H

#include <stddef.h>

/* Writes v as printf's "%.10f" does, byte for byte (correctly rounded from the exact
 * binary value, ties to even; "-" for any negative sign, -0 included), NUL-terminated,
 * into buf (CLI_FMT_F10_CAP bytes); returns its length. Finite |v| < 2^30 take an
 * integer path; others printf's. */
#define CLI_FMT_F10_CAP 400
size_t cli_fmt_f10(char *buf, double v);

#endif
