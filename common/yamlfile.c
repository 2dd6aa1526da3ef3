/*
 * yamlfile.c: reading and loading one YAML file (see yamlfile.h). Input is
 * untrusted: the size is capped while reading, not only by st_size, and the
 * nesting depth is checked before the document is built.
 */
#include "yamlfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads to the end rather than trusting st_size, which a file being written
 * may outgrow. */
int
yamlfile_read(const char *path, size_t max, const char *what, char **out,
              size_t *outlen, struct cairn_err *err)
{
	struct stat st;
	size_t len = 0, cap;
	char *buf, *nbuf;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		cairn_err_set(err, path, 0, 0, "cannot open: %s", strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		cairn_err_set(err, path, 0, 0, "cannot read: %s", strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		cairn_err_set(err, path, 0, 0, "not a regular file");
		return CAIRN_EINVALID;
	}
	if ((uint64_t)st.st_size > max)
		goto too_large;
	cap = (size_t)st.st_size + 1; /* +1 to see the end in one read */
	buf = malloc(cap + 1);
	if (buf == NULL)
		goto nomem;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			/* the buffer holds max + 1 bytes at most: one more
			 * than allowed is enough to know it is too many */
			if (cap > max) {
				free(buf);
				goto too_large;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nbuf = realloc(buf, cap + 1);
			if (nbuf == NULL) {
				free(buf);
				goto nomem;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			free(buf);
			close(fd);
			cairn_err_set(err, path, 0, 0, "cannot read: %s",
			              strerror(e));
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
too_large:
	close(fd);
	cairn_err_set(err, path, 0, 0, "too large for a %s (at most %zu bytes)",
	              what, max);
	return CAIRN_EINVALID;
nomem:
	close(fd);
	cairn_err_set(err, path, 0, 0, "out of memory");
	return -ENOMEM;
}

/* The 1-based line and column of byte offset off in buf (for reader
 * errors, which libyaml reports as an offset); columns count UTF-8
 * characters, as libyaml's marks do. */
static void
offset_position(const char *buf, size_t len, size_t off, int *line, int *column)
{
	size_t i;

	*line = 1;
	*column = 1;
	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			++*line;
			*column = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			++*column;
		}
	}
}

/* Turns a failed yaml_parser_load into err; returns the code to fail with. */
static int
load_failure(const struct yamlfile *yf, struct cairn_err *err)
{
	const yaml_parser_t *p = &yf->parser;
	int line, column;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		cairn_err_set(err, yf->path, 0, 0,
		              "out of memory parsing YAML");
		return -ENOMEM;
	case YAML_READER_ERROR:
		offset_position(yf->buf, yf->len, p->problem_offset, &line,
		                &column);
		if (p->problem_value != -1)
			cairn_err_set(err, yf->path, line, column,
			              "%s (byte 0x%02x)", p->problem,
			              (unsigned)p->problem_value & 0xff);
		else
			cairn_err_set(err, yf->path, line, column, "%s",
			              p->problem);
		return CAIRN_ESYNTAX;
	default:
		if (p->context)
			cairn_err_set(err, yf->path,
			              (int)p->problem_mark.line + 1,
			              (int)p->problem_mark.column + 1,
			              "%s %s (line %d, column %d)",
			              p->problem ? p->problem : "syntax error",
			              p->context, (int)p->context_mark.line + 1,
			              (int)p->context_mark.column + 1);
		else
			cairn_err_set(err, yf->path,
			              (int)p->problem_mark.line + 1,
			              (int)p->problem_mark.column + 1, "%s",
			              p->problem ? p->problem : "syntax error");
		return CAIRN_ESYNTAX;
	}
}

/*
 * libyaml's scanner spends time proportional to the nesting depth on every
 * token, so a file of a million '[' would take hours to load. This first
 * pass reads events only until a node opens deeper than max_depth (the
 * scanner looks at most about 1 KiB ahead of that point) and fails there.
 * Syntax errors are left to the loader, which stops at the same place.
 */
static int
check_depth(const struct yamlfile *yf, int max_depth, struct cairn_err *err)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, rc = 0, done = 0;

	if (!yaml_parser_initialize(&p))
		return 0; /* the loader will say "out of memory" */
	yaml_parser_set_input_string(&p, (const unsigned char *)yf->buf,
	                             yf->len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&p, &ev))
			break;
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > max_depth) {
				cairn_err_set(err, yf->path,
				              (int)ev.start_mark.line + 1,
				              (int)ev.start_mark.column + 1,
				              "nested more than %d levels deep",
				              max_depth);
				rc = CAIRN_EINVALID;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

static int yamlfile_init_owned(struct yamlfile *yf, const char *path, char *buf,
                               size_t len, int max_depth,
                               struct cairn_err *err);

int
yamlfile_init(struct yamlfile *yf, const char *path, size_t max, int max_depth,
              const char *what, struct cairn_err *err)
{
	char *buf;
	size_t len;
	int rc;

	rc = yamlfile_read(path, max, what, &buf, &len, err);
	if (rc < 0) {
		memset(yf, 0, sizeof(*yf));
		return rc;
	}
	return yamlfile_init_owned(yf, path, buf, len, max_depth, err);
}

int
yamlfile_init_mem(struct yamlfile *yf, const char *label, const char *text,
                  size_t len, int max_depth, struct cairn_err *err)
{
	char *buf = malloc(len + 1);

	if (buf == NULL) {
		memset(yf, 0, sizeof(*yf));
		cairn_err_set(err, label, 0, 0, "out of memory");
		return -ENOMEM;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	return yamlfile_init_owned(yf, label, buf, len, max_depth, err);
}

/* The rest of an init once the text is in buf (taken over, freed on
 * failure). */
static int
yamlfile_init_owned(struct yamlfile *yf, const char *path, char *buf,
                    size_t len, int max_depth, struct cairn_err *err)
{
	int rc;

	memset(yf, 0, sizeof(*yf));
	yf->path = path;
	yf->buf = buf;
	yf->len = len;
	rc = check_depth(yf, max_depth, err);
	if (rc < 0)
		goto fail;
	if (!yaml_parser_initialize(&yf->parser)) {
		cairn_err_set(err, path, 0, 0, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	yaml_parser_set_input_string(&yf->parser,
	                             (const unsigned char *)yf->buf, yf->len);
	if (!yaml_parser_load(&yf->parser, &yf->doc)) {
		rc = load_failure(yf, err);
		yaml_parser_delete(&yf->parser);
		goto fail;
	}
	return 0;
fail:
	free(yf->buf);
	yf->buf = NULL;
	return rc;
}

int
yamlfile_expect_end(struct yamlfile *yf, const char *why, struct cairn_err *err)
{
	yaml_document_t next;
	int rc = 0;

	if (!yaml_parser_load(&yf->parser, &next))
		return load_failure(yf, err);
	if (yaml_document_get_root_node(&next)) {
		cairn_err_set(err, yf->path, (int)next.start_mark.line + 1,
		              (int)next.start_mark.column + 1,
		              "more than one YAML document; %s", why);
		rc = CAIRN_ESYNTAX;
	}
	yaml_document_delete(&next);
	return rc;
}

void
yamlfile_close(struct yamlfile *yf)
{
	yaml_document_delete(&yf->doc);
	yaml_parser_delete(&yf->parser);
	free(yf->buf);
	yf->buf = NULL;
}

const char *
yamlfile_node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}
