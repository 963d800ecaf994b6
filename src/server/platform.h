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

#endif
