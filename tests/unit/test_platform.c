/*
 * test_platform.c — src/server/platform.c's user-space beneath-root walk,
 * differentially against the kernel's openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS) on one tree of files, directories and symlinks:
 * for every path both must open the same file or fail with the same errno.
 * The walk is what FreeBSD, macOS, PORTABLE=1 builds and Linux < 5.6 use;
 * built in every build directory, so both its flag sets (O_PATH on Linux,
 * O_RDONLY elsewhere) are checked.
 */
#include "../../src/server/platform.c"   /* the static walk_beneath() too */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#ifdef __linux__
#include <linux/openat2.h>
#include <sys/syscall.h>

static char top[PATH_MAX];
static int root_fd = -1;

static void mkfile(const char *rel, const char *body)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", top, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
}

static void mk(const char *rel, const char *link_target)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", top, rel);
    if (link_target)
        assert_int_equal(symlink(link_target, p), 0);
    else
        assert_int_equal(mkdir(p, 0755), 0);
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(top, sizeof top, "%s/vex_platform.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(top))
        return -1;
    mk("www", NULL);
    mk("www/sub", NULL);
    mk("www/sub/deep", NULL);
    mk("outdir", NULL);
    mkfile("www/index.html", "index\n");
    mkfile("www/sub/page.txt", "page\n");
    mkfile("www/sub/deep/leaf.txt", "leaf\n");
    mkfile("outside.txt", "secret\n");
    mkfile("outdir/secret.txt", "secret\n");
    char abs_out[PATH_MAX * 2], abs_in[PATH_MAX * 2], abs_dir[PATH_MAX * 2];
    snprintf(abs_out, sizeof abs_out, "%s/outside.txt", top);
    snprintf(abs_in, sizeof abs_in, "%s/www/index.html", top);
    snprintf(abs_dir, sizeof abs_dir, "%s/outdir", top);
    static const char *const links[][2] = {
        {"www/rel-file", "index.html"},        {"www/sub/up-file", "../index.html"},
        {"www/sub/up-dir", ".."},              {"www/dir-link", "sub"},
        {"www/dir-link-slash", "sub/"},        {"www/sub/deep/chain", "../../chain2"},
        {"www/chain2", "sub/deep/leaf.txt"},   {"www/rel-escape", "../outside.txt"},
        {"www/rel-escape-dir", "../outdir"},   {"www/sub/out-and-in", "../../www/index.html"},
        {"www/sub/deep/far", "../../../outside.txt"}, {"www/to-escape", "rel-escape"},
        {"www/loop-a", "loop-b"},              {"www/loop-b", "loop-a"},
        {"www/self", "self"},                  {"www/dangling", "no-such-file"},
        {"www/dot", "."},                      {"www/dotdot-in", "sub/.."},
        {"www/empty-ish", "./"},               {"www/file-as-dir", "index.html/x"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        mk(links[i][0], links[i][1]);
    mk("www/abs-file", abs_out);
    mk("www/abs-inside", abs_in);
    mk("www/abs-dir", abs_dir);
    /* Chains of 40 and 41 links: Linux follows at most 40 (ELOOP after). */
    for (int i = 0; i < 41; i++) {
        char name[64], target[64];
        snprintf(name, sizeof name, "www/c%d", i);
        if (i == 0)
            snprintf(target, sizeof target, "index.html");
        else
            snprintf(target, sizeof target, "c%d", i - 1);
        mk(name, target);
    }
    char www[PATH_MAX * 2];
    snprintf(www, sizeof www, "%s/www", top);
    root_fd = plat_open_root(www);
    return root_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    if (root_fd >= 0)
        close(root_fd);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    return system(cmd) == 0 ? 0 : -1;
}

static int kernel_open(const char *rel)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = FILE_FLAGS;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
}

/* Every path below, through both; returns the number of disagreements. */
static int compare(const char *rel, int *opened)
{
    errno = 0;
    int k = kernel_open(rel);
    int ke = errno;
    if (k < 0 && ke == ENOSYS)
        skip();                       /* Linux < 5.6: nothing to compare with */
    errno = 0;
    int w = walk_beneath(root_fd, rel);
    int we = errno;
    int bad = 0;
    if (k >= 0 && w >= 0) {
        struct stat ks, ws;
        fstat(k, &ks);
        fstat(w, &ws);
        if (ks.st_ino != ws.st_ino || ks.st_dev != ws.st_dev) {
            print_error("'%s': kernel and walk opened different files\n", rel);
            bad = 1;
        }
        (*opened)++;
    } else if ((k >= 0) != (w >= 0) || ke != we) {
        print_error("'%s': kernel %s, walk %s\n", rel,
                    k >= 0 ? "opened it" : strerror(ke), w >= 0 ? "opened it" : strerror(we));
        bad = 1;
    }
    if (k >= 0)
        close(k);
    if (w >= 0)
        close(w);
    return bad;
}

static void test_walk_equals_openat2(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "index.html", "sub/page.txt", "sub/deep/leaf.txt", "sub//page.txt", "./index.html",
        "sub/./page.txt", "sub/../index.html", "sub/deep/../../index.html", "", ".", "sub",
        "sub/", "index.html/", "sub/page.txt/", "sub/page.txt/x", "missing", "missing/x",
        "missing/../index.html", "..", "../outside.txt", "sub/../..", "sub/../../www/index.html",
        "/etc/passwd", "//index.html", "rel-file", "sub/up-file", "sub/up-dir/index.html",
        "sub/up-dir/sub/up-dir/sub/page.txt", "sub/up-dir/..", "dir-link", "dir-link/",
        "dir-link/page.txt", "dir-link/deep/leaf.txt", "dir-link-slash", "dir-link-slash/page.txt",
        "sub/deep/chain", "rel-escape", "rel-escape-dir", "rel-escape-dir/secret.txt",
        "sub/out-and-in", "sub/deep/far", "dir-link/deep/far", "to-escape", "loop-a", "self",
        "self/x", "dangling", "dangling/x", "dot", "dot/index.html", "dotdot-in",
        "dotdot-in/index.html", "empty-ish/index.html", "file-as-dir", "abs-file",
        "abs-inside", "abs-dir/secret.txt", "abs-dir", "c0", "c39", "c40", "c40/x",
    };
    int bad = 0, opened = 0;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        bad += compare(paths[i], &opened);
    printf("    %zu paths, %d opened by both, %d disagreement(s)\n",
           sizeof paths / sizeof paths[0], opened, bad);
    assert_int_equal(bad, 0);
    assert_true(opened >= 20);        /* the table does exercise success */
}

static void test_plat_open_beneath_refuses_escapes(void **state)
{
    (void)state;
    static const char *const out[] = {"abs-file", "rel-escape", "sub/out-and-in", "..",
                                      "abs-dir/secret.txt"};
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
        errno = 0;
        assert_int_equal(plat_open_beneath(root_fd, out[i]), -1);
        assert_int_equal(errno, EXDEV);
    }
    int fd = plat_open_beneath(root_fd, "dir-link/deep/leaf.txt");
    assert_true(fd >= 0);
    char buf[16] = "";
    assert_int_equal(read(fd, buf, sizeof buf), 5);
    assert_string_equal(buf, "leaf\n");
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
}

static void test_bytes_file_is_anonymous_and_writable(void **state)
{
    (void)state;
    int fd = plat_bytes_file();
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_nlink, 0);   /* no name anyone could open */
    assert_int_equal(pwrite(fd, "abc", 3, 1 << 20), 3);
    char b[3];
    assert_int_equal(pread(fd, b, 3, 1 << 20), 3);
    assert_memory_equal(b, "abc", 3);
    close(fd);
}

/* PLAT_NODELAY_INHERITED lets the server set TCP_NODELAY on its listeners
 * only: an accepted socket (accept4 here; io_uring's accept is the same
 * kernel path) must carry it, and one from a listener without it must not
 * (or the check would prove nothing). */
static int nodelay_of_accepted(int listener_nodelay)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_int_equal(setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &listener_nodelay,
                                sizeof listener_nodelay), 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 4), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(s >= 0);
    int v = -1;
    len = sizeof v;
    assert_int_equal(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    close(s);
    close(c);
    close(l);
    return v != 0;
}

static void test_nodelay_inherited_from_listener(void **state)
{
    (void)state;
    if (!PLAT_NODELAY_INHERITED) {
        print_message("    (PORTABLE build: TCP_NODELAY is set per accepted socket, "
                      "inheritance not relied on)\n");
        return;
    }
    assert_int_equal(nodelay_of_accepted(1), 1);
    assert_int_equal(nodelay_of_accepted(0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nodelay_inherited_from_listener),
        cmocka_unit_test(test_walk_equals_openat2),
        cmocka_unit_test(test_plat_open_beneath_refuses_escapes),
        cmocka_unit_test(test_bytes_file_is_anonymous_and_writable),
    };
    printf("platform.c (%s)\n", PLAT_LINUX ? "Linux: openat2 first, O_PATH walk" :
           "portable: O_RDONLY walk, unlinked temporary file");
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else
int main(void)
{
    printf("test_platform: needs Linux's openat2 to compare with; skipped\n");
    return 0;
}
#endif
