/*
 * static_files.c — GET/HEAD /static/<path> from the --root directory.
 *
 * Path traversal is refused twice: lexically (after percent-decoding, any
 * ".." segment is 403 and dot-files are hidden), and at open:
 * plat_open_beneath() (platform.c) fails for anything — a symlink included —
 * that would leave the root: openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
 * on Linux, a component-by-component O_NOFOLLOW walk elsewhere (and on
 * Linux < 5.6), with the same result for every path.
 *
 * The body is handed to the transport whole (h1_body_file): sendfile(2) on
 * the readiness backends, where a cold file's disk read does block the loop
 * thread (as in nginx without aio threads); ring reads on io_uring, where it
 * does not.
 *
 * Compression: a precompressed sibling (name.br, name.zst, name.gz) the
 * client accepts, in the order Accept-Encoding and the server prefer, is
 * sent instead, whole and with its own length, if it is not older than
 * the file (a stale one is ignored). Otherwise h1_head may compress the
 * file on the fly (chunked, read in pieces) when its type and size qualify.
 */
#include "handlers.h"
#include "http/http_chars.h"

#include "accept_encoding.h"
#include "platform.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Percent-decode p[0..n) and rebuild it as "seg/seg/..." into out.
 * Returns 0, or the status to answer: 400 bad encoding or NUL, 403 a ".."
 * segment, 404 a dot-file, an empty path or one too long. */
static int clean_path(const char *p, size_t n, char *out, size_t cap)
{
    char dec[4096];
    size_t dl = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return 400;
            if (!http_char_is(p[i + 1], HC_HEX) || !http_char_is(p[i + 2], HC_HEX))
                return 400;
            ch = (char)(http_hex_value(p[i + 1]) * 16 + http_hex_value(p[i + 2]));
            i += 2;
        }
        if (ch == '\0')
            return 400;
        if (dl + 1 >= sizeof dec)
            return 404;
        dec[dl++] = ch;
    }
    size_t ol = 0;
    size_t i = 0;
    while (i < dl) {
        while (i < dl && dec[i] == '/')
            i++;
        size_t s = i;
        while (i < dl && dec[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0)
            break;
        if (len == 1 && dec[s] == '.')
            continue;
        if (len == 2 && dec[s] == '.' && dec[s + 1] == '.')
            return 403;
        if (dec[s] == '.')
            return 404;
        if (ol + len + 2 > cap)
            return 404;
        if (ol)
            out[ol++] = '/';
        memcpy(out + ol, dec + s, len);
        ol += len;
    }
    if (ol == 0)
        return 404;               /* no directory listings */
    out[ol] = '\0';
    return 0;
}

static const char *content_type(const char *rel)
{
    static const struct { const char *ext, *type; } types[] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"}, {"json", "application/json"},
        {"svg", "image/svg+xml"}, {"png", "image/png"}, {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"}, {"gif", "image/gif"}, {"webp", "image/webp"},
        {"ico", "image/x-icon"}, {"wasm", "application/wasm"},
        {"pdf", "application/pdf"}, {"xml", "application/xml"},
    };
    const char *dot = strrchr(rel, '.');
    const char *slash = strrchr(rel, '/');
    if (dot && (!slash || dot > slash)) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    }
    return "application/octet-stream";
}

static bool not_older(const struct stat *sib, const struct stat *orig)
{
    return sib->st_mtim.tv_sec > orig->st_mtim.tv_sec ||
           (sib->st_mtim.tv_sec == orig->st_mtim.tv_sec &&
            sib->st_mtim.tv_nsec >= orig->st_mtim.tv_nsec);
}

/* Send the best acceptable fresh sibling of rel: true if one went (or the
 * connection failed trying). */
static bool send_precompressed(h1_ex *x, const http_request *req, int root, const char *rel,
                               const struct stat *orig)
{
    static const char *const ext[ENC_N] = { "", ".gz", ".br", ".zst" };
    const comp_settings *cs = &x->ctx->cfg->comp;
    if (!cs->on || !cs->precompressed)
        return false;
    uint8_t order[ENC_N], ranked[ENC_N];
    int no = comp_order_parse(cs->order, order);
    size_t k = ae_rank(req, order, no > 0 ? (size_t)no : 0, ranked);
    size_t rl = strlen(rel);
    for (size_t i = 0; i < k; i++) {
        char name[4096 + 8];
        if (rl + 5 > sizeof name)
            return false;
        memcpy(name, rel, rl);
        strcpy(name + rl, ext[ranked[i]]);
        int fd = plat_open_beneath(root, name);
        if (fd < 0)
            continue;
        struct stat sb;
        if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || !not_older(&sb, orig)) {
            close(fd);
            continue;
        }
        char extra[96];
        snprintf(extra, sizeof extra, "Content-Encoding: %s\r\nVary: Accept-Encoding\r\n",
                 comp_enc_name((enum comp_enc)ranked[i]));
        if (h1_head(x, 200, content_type(rel), (int64_t)sb.st_size, extra))
            h1_body_file(x, fd, 0, (uint64_t)sb.st_size);
        else
            close(fd);
        return true;
    }
    return false;
}

static void answer(h1_ex *x, const http_request *req, int status)
{
    h1_fixed(x, req, status == 403 ? R_403 : status == 400 ? R_E400 : R_404);
}

void h_static(h1_ex *x, const http_request *req)
{
    int root = x->ctx->cfg->root_fd;   /* the snapshot owns it: a reload may change it */
    const size_t pre = sizeof "/static/" - 1;
    if (req->body != HTTP_BODY_NONE) {
        h1_fixed(x, req, R_E400);
        return;
    }
    if (root < 0) {
        answer(x, req, 404);
        return;
    }
    char rel[4096];
    int st = clean_path(req->path.p + pre, req->path.len - pre, rel, sizeof rel);
    if (st) {
        answer(x, req, st);
        return;
    }
    int fd = plat_open_beneath(root, rel);
    if (fd < 0) {
        /* EXDEV: it would escape the root; ELOOP: a symlink loop;
         * EACCES/EPERM: not ours to show. */
        int e = errno;
        answer(x, req, (e == EXDEV || e == ELOOP || e == EACCES || e == EPERM) ? 403 : 404);
        return;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        answer(x, req, 404);
        return;
    }
    if (send_precompressed(x, req, root, rel, &sb)) {
        close(fd);
        return;
    }
    if (!h1_head(x, 200, content_type(rel), (int64_t)sb.st_size, NULL)) {
        close(fd);
        return;
    }
    h1_body_file(x, fd, 0, (uint64_t)sb.st_size);
}
