#include "resp.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void resp_reset(resp_parser *p, int no_body)
{
    p->in_body = 0;
    p->status = 0;
    p->close = 0;
    p->no_body = no_body;
    p->body_left = 0;
    p->head_len = 0;
}

/* A header line "Name: value" (no CRLF); value trimmed. */
static int header_is(const char *line, size_t len, const char *name, const char **val,
                     size_t *vlen)
{
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return 0;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *val = v;
    *vlen = (size_t)(end - v);
    return 1;
}

/* Parse the complete head in p->head[0..head_len). */
static int parse_head(resp_parser *p)
{
    const char *s = p->head, *end = p->head + p->head_len;
    if (p->head_len < 12 || strncmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ' ||
        !isdigit((unsigned char)s[9]) || !isdigit((unsigned char)s[10]) ||
        !isdigit((unsigned char)s[11]))
        return RESP_BAD;
    p->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (s[7] == '0')
        p->close = 1;            /* HTTP/1.0 closes unless keep-alive is said */
    int have_len = 0;
    const char *line = memchr(s, '\n', (size_t)(end - s));
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        size_t len = (size_t)(eol - line);
        if (len && line[len - 1] == '\r')
            len--;
        if (len == 0)
            break;
        const char *v;
        size_t vl;
        if (header_is(line, len, "content-length", &v, &vl)) {
            char num[24];
            if (vl == 0 || vl >= sizeof num)
                return RESP_BAD;
            memcpy(num, v, vl);
            num[vl] = '\0';
            char *e;
            unsigned long long n = strtoull(num, &e, 10);
            if (*e || !isdigit((unsigned char)num[0]))
                return RESP_BAD;
            p->body_left = n;
            have_len = 1;
        } else if (header_is(line, len, "transfer-encoding", &v, &vl)) {
            return RESP_UNSUPPORTED;
        } else if (header_is(line, len, "connection", &v, &vl)) {
            if (vl == 5 && strncasecmp(v, "close", 5) == 0)
                p->close = 1;
            else if (vl == 10 && strncasecmp(v, "keep-alive", 10) == 0)
                p->close = 0;
        }
        line = eol;
    }
    if (p->no_body || p->status == 204 || p->status == 304)
        p->body_left = 0;
    else if (!have_len)
        return RESP_UNSUPPORTED;  /* read-until-close bodies: not for keep-alive load */
    return RESP_MORE;
}

int resp_feed(resp_parser *p, const char *data, size_t n, size_t *used)
{
    size_t i = 0;
    while (i < n) {
        if (!p->in_body) {
            /* copy up to the end of the head; look for CRLFCRLF across reads */
            while (i < n) {
                if (p->head_len == RESP_HEAD_MAX)
                    return RESP_BAD;
                p->head[p->head_len++] = data[i++];
                size_t h = p->head_len;
                if (h >= 4 && p->head[h - 1] == '\n' && p->head[h - 2] == '\r' &&
                    p->head[h - 3] == '\n' && p->head[h - 4] == '\r')
                    break;
            }
            size_t h = p->head_len;
            if (!(h >= 4 && memcmp(p->head + h - 4, "\r\n\r\n", 4) == 0))
                break;                           /* head continues in the next read */
            int rc = parse_head(p);
            if (rc < 0)
                return rc;
            if (p->status >= 100 && p->status < 200) {   /* interim: the real one follows */
                int nb = p->no_body;
                resp_reset(p, nb);
                continue;
            }
            p->in_body = 1;
        }
        uint64_t take = n - i < p->body_left ? n - i : p->body_left;
        i += take;
        p->body_left -= take;
        if (p->body_left == 0) {
            *used = i;
            return RESP_DONE;
        }
    }
    *used = i;
    return RESP_MORE;
}
