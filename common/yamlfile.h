/*
 * yamlfile.h: one YAML file loaded with libyaml's document API, shared by
 * the configuration and the definitions checker. The file is read whole (a
 * regular file, at most a given size), a quick pass over its events refuses
 * deep nesting before libyaml's scanner slows down on it, and the first
 * document is loaded; the caller walks it and then asks that no second
 * document follows. Every failure fills a struct cairn_err with the file
 * and libyaml's mark as a 1-based line and column.
 */
#ifndef CAIRN_YAMLFILE_H
#define CAIRN_YAMLFILE_H

#include <stddef.h>
#include <yaml.h>

#include "cairn.h"

/* An open file, embedded by the caller: valid from a successful
 * yamlfile_init() until yamlfile_close(). */
struct yamlfile {
	const char *path; /* borrowed, for messages */
	char *buf;        /* the whole file, NUL-terminated */
	size_t len;
	yaml_parser_t parser;
	yaml_document_t doc; /* the first document; its root may be NULL */
};

/*
 * Reads all of path into a NUL-terminated heap buffer (*out, to be freed by
 * the caller, and its length *outlen). Anything but a regular file of at
 * most max bytes fails; what names the kind of file in the message, as in
 * "too large for a <what>". Returns 0, -errno, -ENOMEM or CAIRN_EINVALID.
 */
int yamlfile_read(const char *path, size_t max, const char *what, char **out,
                  size_t *outlen, struct cairn_err *err);

/*
 * Reads path (as yamlfile_read()), refuses lists and mappings nested more
 * than max_depth deep (CAIRN_EINVALID) and loads the first document into
 * yf->doc. Returns 0, or a negative code with err filled and nothing left
 * to close: CAIRN_ESYNTAX for YAML that libyaml rejects.
 */
int yamlfile_init(struct yamlfile *yf, const char *path, size_t max,
                  int max_depth, const char *what, struct cairn_err *err);

/* As yamlfile_init() for text already in memory (copied); label stands
 * for the file name in messages and must outlive yf. */
int yamlfile_init_mem(struct yamlfile *yf, const char *label, const char *text,
                      size_t len, int max_depth, struct cairn_err *err);

/*
 * Loads the rest of the stream and fails with CAIRN_ESYNTAX if it holds a
 * second document (err: "more than one YAML document; <why>", at its start)
 * or a syntax error. Returns 0 when the first document was the only one.
 */
int yamlfile_expect_end(struct yamlfile *yf, const char *why,
                        struct cairn_err *err);

/* "a mapping", "a list" or "a scalar", for messages. */
const char *yamlfile_node_kind(const yaml_node_t *n);

/* Frees the document, the parser and the buffer. */
void yamlfile_close(struct yamlfile *yf);

#endif
