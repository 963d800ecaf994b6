/*
 * platform.h — the server's only OS-specific calls, each with a portable
 * fallback that keeps the same guarantee.
 *
 * On Linux the best tool is used (O_PATH, openat2, memfd_create); FreeBSD,
 * macOS and any build with -DVEX_PORTABLE (`make PORTABLE=1`, which runs the
 * fallbacks on Linux so they are tested) use POSIX calls only.
 */
#ifndef VEX_SERVER_PLATFORM_H
#define VEX_SERVER_PLATFORM_H

/* Open the --root directory: a descriptor used only as the base of
 * plat_open_beneath(). -1 with errno (ENOTDIR, ENOENT, EACCES, ...). */
int plat_open_root(const char *path);

/* Open rel for reading, relative to root_fd, strictly beneath it: no
 * component, symlinks included, may resolve outside root_fd. Symlinks that
 * stay inside are followed (up to 40); absolute ones and any ".." above the
 * root fail with EXDEV, too many links with ELOOP. Returns a non-blocking,
 * close-on-exec descriptor, or -1 with errno. */
int plat_open_beneath(int root_fd, const char *rel);

/* An anonymous read-write file that no other process can open by name
 * (a memfd on Linux, an unlinked temporary file elsewhere), close-on-exec.
 * -1 with errno if there is none. */
int plat_bytes_file(void);

/* Does an accepted TCP socket inherit TCP_NODELAY from its listener? On
 * Linux it does (the child is cloned from the listening socket; accept4
 * and io_uring's accept alike, tests/unit/test_platform.c checks it), so
 * the server sets it once on each listener instead of once per connection.
 * Elsewhere (FreeBSD and macOS not verified here) and in PORTABLE builds,
 * which run that path on Linux, it is also set on every accepted socket. */
#if defined(__linux__) && !defined(VEX_PORTABLE)
#define PLAT_NODELAY_INHERITED 1
#else
#define PLAT_NODELAY_INHERITED 0
#endif

#endif
