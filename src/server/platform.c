/*
 * platform.c — the server's OS-specific calls and their portable fallbacks.
 *
 * PLAT_LINUX selects Linux's own tools; everything else (FreeBSD, macOS, and
 * Linux built with -DVEX_PORTABLE so that the fallbacks run in CI) uses only
 * POSIX 2008 calls.
 *
 * Opening beneath the root. Linux's openat2(RESOLVE_BENEATH) makes the kernel
 * refuse any resolution that leaves the root. The fallback does the same
 * resolution in user space, one component at a time: every step is an
 * openat(O_NOFOLLOW) relative to a directory descriptor we hold, so the
 * kernel never follows a symlink or a ".." for us. A symlink is read with
 * readlinkat() and its target spliced into the rest of the path; ".." pops
 * our own stack of directory descriptors and fails at the root. Whatever a
 * concurrent rename or symlink swap does, each step starts from a directory
 * already proven to be beneath the root, so the result is too.
 */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__) && !defined(VEX_PORTABLE)
#define PLAT_LINUX 1
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#else
#define PLAT_LINUX 0
#endif

#define FILE_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
/* O_PATH needs only search permission. Elsewhere O_RDONLY (read permission
 * on the directories, which a served tree has anyway): O_SEARCH/O_EXEC mean
 * different things on FreeBSD and macOS and were never run here. */
#if PLAT_LINUX
#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_CLOEXEC)
#else
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#endif

#define MAX_LINKS 40    /* as Linux's path walk (ELOOP beyond)           */
#define MAX_DEPTH 128   /* directory levels held at once (ENAMETOOLONG)  */

int plat_open_root(const char *path)
{
    return open(path, DIR_FLAGS);
}

static int fail(int e)
{
    errno = e;
    return -1;
}

/* Is this openat(O_NOFOLLOW) error possibly "it is a symlink"? Linux and
 * macOS say ELOOP (ENOTDIR with O_DIRECTORY on Linux), FreeBSD EMLINK. */
static bool maybe_symlink(int e)
{
    return e == ELOOP || e == EMLINK || e == ENOTDIR;
}

/* The user-space RESOLVE_BENEATH described at the top. */
static int walk_beneath(int root_fd, const char *rel)
{
    char path[2][PATH_MAX];       /* the rest of the walk; two for splicing */
    char target[PATH_MAX];
    char name[NAME_MAX + 1];
    int dirs[MAX_DEPTH + 1];      /* dirs[0] is the root, not ours to close */
    int depth = 0, links = 0, cur = 0, result = -1, err = 0;

    size_t len = strlen(rel);
    if (len >= sizeof path[0])
        return fail(ENAMETOOLONG);
    if (len == 0)
        return fail(ENOENT);
    if (rel[0] == '/')
        return fail(EXDEV);
    memcpy(path[0], rel, len + 1);
    dirs[0] = root_fd;
    const char *p = path[0];

    for (;;) {
        while (*p == '/')
            p++;
        if (*p == '\0') {         /* ended on a directory: open it as a file */
            result = openat(dirs[depth], ".", FILE_FLAGS);
            err = errno;
            break;
        }
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        const char *rest = p;
        while (*rest == '/')
            rest++;
        bool last = *rest == '\0';
        bool slash = *p == '/';   /* "name/": it must be a directory */
        if (n == 1 && s[0] == '.')
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (depth == 0) {
                err = EXDEV;
                break;
            }
            close(dirs[depth--]);
            continue;
        }
        if (n > NAME_MAX) {
            err = ENAMETOOLONG;
            break;
        }
        memcpy(name, s, n);
        name[n] = '\0';

        int flags = last ? FILE_FLAGS | (slash ? O_DIRECTORY : 0) : DIR_FLAGS;
        int fd = openat(dirs[depth], name, flags | O_NOFOLLOW);
        if (fd >= 0) {
            if (last) {
                result = fd;
                break;
            }
            if (depth == MAX_DEPTH) {
                close(fd);
                err = ENAMETOOLONG;
                break;
            }
            dirs[++depth] = fd;
            continue;
        }
        int e = errno;
        if (!maybe_symlink(e)) {
            err = e;
            break;
        }
        ssize_t tl = readlinkat(dirs[depth], name, target, sizeof target);
        if (tl < 0) {             /* EINVAL: not a symlink after all */
            err = errno == EINVAL ? e : errno;
            break;
        }
        if ((size_t)tl >= sizeof target) {
            err = ENAMETOOLONG;
            break;
        }
        if (++links > MAX_LINKS) {
            err = ELOOP;
            break;
        }
        if (tl == 0) {
            err = ENOENT;
            break;
        }
        if (target[0] == '/') {   /* absolute: RESOLVE_BENEATH says EXDEV */
            err = EXDEV;
            break;
        }
        /* The walk goes on with target + the components after this one
         * (p points at their '/' or the end). */
        size_t rl = strlen(p);
        if ((size_t)tl + rl >= sizeof path[0]) {
            err = ENAMETOOLONG;
            break;
        }
        char *np = path[cur ^ 1];
        memcpy(np, target, (size_t)tl);
        memcpy(np + tl, p, rl + 1);
        cur ^= 1;
        p = np;
    }
    while (depth > 0)
        close(dirs[depth--]);
    if (result < 0)
        errno = err;
    return result;
}

int plat_open_beneath(int root_fd, const char *rel)
{
#if PLAT_LINUX
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = FILE_FLAGS;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    int fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
    /* ENOSYS: Linux < 5.6; EPERM: a seccomp filter that predates openat2.
     * The walk then meets any real EPERM itself. */
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
        return fd;
#endif
    return walk_beneath(root_fd, rel);
}

/* An unlinked temporary file: page-cache backed, so sendfile(2) on every
 * system can send from it, and gone when the last descriptor closes. */
static int unlinked_tmpfile(void)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char tmpl[PATH_MAX];
    int n = snprintf(tmpl, sizeof tmpl, "%s/vex_net-bytes.XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof tmpl)
        return fail(ENAMETOOLONG);
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return -1;
    unlink(tmpl);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int e = errno;
        close(fd);
        return fail(e);
    }
    return fd;
}

int plat_bytes_file(void)
{
#if PLAT_LINUX
    int fd = memfd_create("vex_net-bytes", MFD_CLOEXEC);
    if (fd >= 0)
        return fd;
#endif
    return unlinked_tmpfile();
}
