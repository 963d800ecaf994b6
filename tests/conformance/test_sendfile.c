/*
 * test_sendfile.c — vex_sendfile: a file sent after the bytes queued before
 * it, writes held back (EAGAIN, then on_drain) until it is done, the file's
 * fd owned and closed by the loop on every path (done, short file, unreadable
 * file, peer reset, close and remove mid-file), and misuse refused with the
 * caller keeping its fd.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* An unlinked temporary file holding the pattern for stream offsets
 * [0, size), or a hole of that size if !pattern. */
static int temp_file(size_t size, bool pattern)
{
    char path[] = "/tmp/vex_sendfile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    if (!pattern) {
        assert_int_equal(ftruncate(fd, (off_t)size), 0);
        return fd;
    }
    unsigned char *buf = malloc(1u << 20);
    assert_non_null(buf);
    for (size_t off = 0; off < size; off += 1u << 20) {
        size_t n = size - off < (1u << 20) ? size - off : (1u << 20);
        h_pattern_fill(buf, off, n);
        assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
    }
    free(buf);
    return fd;
}

static bool fd_closed(int fd)
{
    return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* ---- a script of writes and files, driven by on_drain -------------------------- */

typedef struct step {
    bool file;              /* from the file, else from memory */
    size_t len;
} step;

#define MAX_STEPS 16
typedef struct script {
    const step *steps;
    int n_steps, next;
    size_t off;             /* stream offset of the next step */
    int file_fd;            /* pattern file; each job gets a dup */
    int job_fds[MAX_STEPS], n_jobs;
    int eagain, errors, last_errno;
    bool shut;
} script;

static void script_run(vex_loop *l, int fd, script *sc)
{
    while (sc->next < sc->n_steps) {
        const step *st = &sc->steps[sc->next];
        if (st->file) {
            int f = dup(sc->file_fd);
            if (vex_sendfile(l, fd, f, sc->off, st->len) != 0) {
                close(f);
                if (errno == EAGAIN) {
                    sc->eagain++;
                    return;   /* on_drain comes back here */
                }
                sc->errors++;
                sc->last_errno = errno;
                return;
            }
            sc->job_fds[sc->n_jobs++] = f;
        } else {
            unsigned char *buf = malloc(st->len);
            h_pattern_fill(buf, sc->off, st->len);
            ssize_t w = vex_write(l, fd, buf, st->len);
            free(buf);
            if (w < 0) {
                if (errno == EAGAIN) {
                    sc->eagain++;
                    return;
                }
                sc->errors++;
                sc->last_errno = errno;
                return;
            }
        }
        sc->off += st->len;
        sc->next++;
    }
    if (!sc->shut) {
        sc->shut = true;
        vex_shutdown_write(l, fd);
    }
}

static void script_on_drain(vex_loop *l, int fd, const char *d, ssize_t n, h_rec *r)
{
    (void)d;
    (void)n;
    script_run(l, fd, r->user);
}

static size_t script_total(const step *steps, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += steps[i].len;
    return t;
}

/* evict_from: the file's bytes from there on are dropped from the page
 * cache before the script runs (SIZE_MAX: none), so io_uring reads them
 * with the ring's READ instead of sendfile(2) (on a filesystem that keeps
 * them anyway, tmpfs, the test still checks every byte). */
static void run_script_evicted(const step *steps, int n_steps, int reader_delay_ms,
                               size_t evict_from)
{
    size_t total = script_total(steps, n_steps);
    script sc = { .steps = steps, .n_steps = n_steps, .file_fd = temp_file(total, true) };
    if (evict_from != SIZE_MAX) {
        assert_int_equal(fdatasync(sc.file_fd), 0);
        assert_int_equal(posix_fadvise(sc.file_fd, (off_t)evict_from, 0, POSIX_FADV_DONTNEED), 0);
    }
    h_pair p;
    h_pair_open(&p, NULL);
    vex_set_recvbuf(p.c, 64 * 1024);
    p.rec.user = &sc;
    p.rec.drain_hook = script_on_drain;
    h_reader rd = { .fd = p.c, .chunk = 32 * 1024, .delay_ms = reader_delay_ms,
                    .timeout_ms = 30000 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, h_reader_main, &rd), 0);
    script_run(p.loop, p.s, &sc);
    size_t pending_first = vex_write_pending(p.loop, p.s);
    /* Done when every step ran, shutdown was asked and the reader saw EOF. */
    uint64_t deadline = h_now_ms() + 30000;
    while (h_now_ms() < deadline && !sc.errors && !p.rec.err_calls &&
           !(sc.shut && vex_write_pending(p.loop, p.s) == 0))
        h_run_for(p.loop, 10);
    h_run_for(p.loop, 30);
    pthread_join(th, NULL);
    size_t left = vex_write_pending(p.loop, p.s);
    h_run_for(p.loop, 30);          /* io_uring closes files with an SQE */
    int still_open = 0;
    for (int i = 0; i < sc.n_jobs; i++)
        still_open += !fd_closed(sc.job_fds[i]);
    h_pair_close(&p);
    close(sc.file_fd);

    if (sc.errors)
        fail_msg("a step failed with errno %d (%s)", sc.last_errno, strerror(sc.last_errno));
    assert_int_equal(p.rec.err_calls, 0);
    assert_true(pending_first > 0);
    assert_int_equal(sc.next, n_steps);
    assert_int_equal(left, 0);
    if (rd.got != total || rd.mismatch_at != SIZE_MAX)
        fail_msg("reader got %zu of %zu bytes, first bad byte at %zu, err %d", rd.got,
                 total, rd.mismatch_at == SIZE_MAX ? rd.got : rd.mismatch_at, rd.err);
    assert_true(rd.eof);
    if (still_open)
        fail_msg("%d of %d file fds still open after their jobs", still_open, sc.n_jobs);
    print_message("    %zu bytes, %d file jobs, %d EAGAIN(s)\n", total, sc.n_jobs, sc.eagain);
    h_rec_free(&p.rec);
}

static void run_script(const step *steps, int n_steps, int reader_delay_ms)
{
    run_script_evicted(steps, n_steps, reader_delay_ms, SIZE_MAX);
}

/* A header, a file crossing the 64 KiB read pieces and the 1 MiB bursts, a
 * trailer, then files of 1, 65536 and 65537 bytes back to back: every byte
 * in order, the writes after each file held back with EAGAIN. */
static const step ordered_steps[] = {
    { false, 117 }, { true, (5u << 20) + 7 }, { false, 50 }, { true, 1 },
    { true, 65536 }, { true, 65537 }, { false, 10 },
};

static void test_sendfile_after_queued_bytes_keeps_order(void **state)
{
    (void)state;
    run_script(ordered_steps, (int)(sizeof ordered_steps / sizeof ordered_steps[0]), 200);
}

/* The same from a file just evicted from the page cache (io_uring: every
 * piece through the ring's READ), to the same slow reader. */
static void test_sendfile_of_an_evicted_file_keeps_order(void **state)
{
    (void)state;
    run_script_evicted(ordered_steps, (int)(sizeof ordered_steps / sizeof ordered_steps[0]),
                       200, 0);
}

/* A file cached for its first 2 MiB and evicted after (io_uring: sendfile(2)
 * first, then the READ path from the first missing page on), fast reader. */
static void test_sendfile_of_a_file_cold_from_its_middle(void **state)
{
    (void)state;
    static const step steps[] = { { false, 99 }, { true, (4u << 20) + 3 }, { false, 5 } };
    run_script_evicted(steps, (int)(sizeof steps / sizeof steps[0]), 0, 2u << 20);
}

/* The same with a reader that is there from the start (no backpressure). */
static void test_sendfile_small_pieces_to_a_fast_reader(void **state)
{
    (void)state;
    static const step steps[] = {
        { true, 3 }, { false, 1 }, { true, 4096 }, { true, 200000 }, { false, 4096 },
    };
    run_script(steps, (int)(sizeof steps / sizeof steps[0]), 0);
}

static void test_write_pending_counts_the_file(void **state)
{
    (void)state;
    int f = temp_file(1u << 20, false);
    h_pair p;
    h_pair_open(&p, NULL);
    assert_int_equal(vex_write(p.loop, p.s, "abc", 3), 3);
    assert_int_equal(vex_sendfile(p.loop, p.s, f, 0, 1u << 20), 0);
    size_t pending = vex_write_pending(p.loop, p.s);
    h_pair_close(&p);
    h_rec_free(&p.rec);
    assert_int_equal(pending, 3 + (1u << 20));
    assert_true(fd_closed(f));      /* closed with the socket */
}

/* Many files at once on a loop with a tiny submission queue (io_uring: 4
 * entries), so SQEs run out between operations: every stream intact. */
#define MANY 12
#define MANY_SIZE (300u * 1024 + 11)
static void test_many_files_at_once_on_a_small_ring(void **state)
{
    (void)state;
    vex_loop_config cfg = { .ring_entries = 4 };
    vex_loop *l = h_loop_new(&cfg);
    int file = temp_file(MANY_SIZE, true);
    int srv[MANY], cli[MANY];
    h_rec rec[MANY];
    h_reader rd[MANY];
    pthread_t th[MANY];
    int refused = 0;
    for (int i = 0; i < MANY; i++) {
        h_tcp_pair(&srv[i], &cli[i]);
        h_rec_init(&rec[i], srv[i]);
        assert_int_equal(vex_sock_add(l, srv[i], &h_rec_cbs, &rec[i]), 0);
        int f = dup(file);
        if (vex_sendfile(l, srv[i], f, 0, MANY_SIZE) != 0) {
            close(f);
            refused++;
        }
        vex_shutdown_write(l, srv[i]);
        rd[i] = (h_reader){ .fd = cli[i], .chunk = 16 * 1024, .timeout_ms = 20000 };
        assert_int_equal(pthread_create(&th[i], NULL, h_reader_main, &rd[i]), 0);
    }
    uint64_t deadline = h_now_ms() + 20000;
    int done = 0;
    while (done < MANY && h_now_ms() < deadline) {
        h_run_for(l, 10);
        done = 0;
        for (int i = 0; i < MANY; i++)
            done += vex_write_pending(l, srv[i]) == 0;
    }
    for (int i = 0; i < MANY; i++)
        pthread_join(th[i], NULL);
    h_loop_free(l);
    close(file);
    int bad = 0, errs = 0;
    for (int i = 0; i < MANY; i++) {
        bad += rd[i].got != MANY_SIZE || rd[i].mismatch_at != SIZE_MAX || !rd[i].eof;
        errs += rec[i].err_calls;
        close(cli[i]);
        h_rec_free(&rec[i]);
    }
    assert_int_equal(refused, 0);
    assert_int_equal(done, MANY);
    assert_int_equal(errs, 0);
    if (bad)
        fail_msg("%d of %d streams arrived short, late or wrong", bad, MANY);
}

/* ---- failures ------------------------------------------------------------------------ */

/* The file ends before len: the receiver must not wait for bytes that never
 * come, so the socket fails (-EIO) after what the file did hold. */
static void test_short_file_fails_the_socket_with_eio(void **state)
{
    (void)state;
    int f = temp_file(1000, true);
    h_pair p;
    h_pair_open(&p, NULL);
    assert_int_equal(vex_sendfile(p.loop, p.s, f, 0, 5000), 0);
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 5000);
    unsigned char got[1000];
    size_t n = h_recv_exact(p.c, got, sizeof got, 2000);
    enum h_end after = h_recv_end(p.c, 200);    /* never bytes that were not read */
    errno = 0;
    ssize_t w = vex_write(p.loop, p.s, "x", 1);
    int werr = errno;
    h_run_for(p.loop, 30);
    bool closed = fd_closed(f);
    h_pair_close(&p);
    assert_true(ended);
    assert_int_equal(p.rec.err_calls, 1);
    assert_int_equal(p.rec.last_err, EIO);
    assert_int_equal(n, sizeof got);
    assert_int_equal(h_pattern_check(got, 0, sizeof got), sizeof got);
    assert_true(after != H_DATA);
    assert_int_equal(w, -1);
    assert_int_equal(werr, EPIPE);
    assert_true(closed);
    h_rec_free(&p.rec);
}

/* A file that cannot be read (opened write-only) fails the socket with the
 * read's error, and is still closed. */
static void test_unreadable_file_fails_the_socket_with_its_errno(void **state)
{
    (void)state;
    char path[] = "/tmp/vex_sendfile_wo_XXXXXX";
    int tmp = mkstemp(path);
    assert_true(tmp >= 0);
    assert_int_equal(ftruncate(tmp, 4096), 0);
    close(tmp);
    int f = open(path, O_WRONLY);
    unlink(path);
    assert_true(f >= 0);
    h_pair p;
    h_pair_open(&p, NULL);
    assert_int_equal(vex_sendfile(p.loop, p.s, f, 0, 4096), 0);
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 5000);
    h_run_for(p.loop, 30);
    bool closed = fd_closed(f);
    h_pair_close(&p);
    assert_true(ended);
    assert_int_equal(p.rec.err_calls, 1);
    assert_int_equal(p.rec.last_err, EBADF);
    assert_true(closed);
    h_rec_free(&p.rec);
}

#define BIG_FILE (32u << 20)

/* A pair whose socket is part-way through a 32 MiB file to a reader that
 * does not read; returns the file's fd. */
static int start_big_file(h_pair *p, size_t *pending)
{
    int f = temp_file(BIG_FILE, false);
    h_pair_open(p, NULL);
    vex_set_recvbuf(p->c, 64 * 1024);
    assert_int_equal(vex_sendfile(p->loop, p->s, f, 0, BIG_FILE), 0);
    h_run_for(p->loop, 100);
    *pending = vex_write_pending(p->loop, p->s);
    return f;
}

/* The peer resets while the file is on its way: reported once, file closed. */
static void test_peer_reset_during_file(void **state)
{
    (void)state;
    h_pair p;
    size_t pending;
    int f = start_big_file(&p, &pending);
    h_set_linger_reset(p.c);
    close(p.c);
    p.c = -1;
    bool ended = h_run_until(p.loop, h_rec_has_ended, &p.rec, 5000);
    h_run_for(p.loop, 30);
    bool closed = fd_closed(f);
    h_pair_close(&p);
    assert_true(pending > 0 && pending < BIG_FILE);
    assert_true(ended);
    assert_int_equal(p.rec.err_calls + p.rec.eof_calls, 1);
    assert_true(closed);
    h_rec_free(&p.rec);
}

static void close_or_remove_mid_file(bool remove)
{
    h_pair p;
    size_t pending;
    int f = start_big_file(&p, &pending);
    int s = p.s;
    assert_int_equal(remove ? vex_sock_remove(p.loop, s) : vex_close(p.loop, s), 0);
    h_run_for(p.loop, 50);
    bool file_closed = fd_closed(f);
    bool sock_open = !fd_closed(s);
    int calls = h_rec_calls(&p.rec);
    if (remove)
        close(s);
    h_pair_close(&p);
    assert_true(pending > 0 && pending < BIG_FILE);
    assert_true(file_closed);
    assert_int_equal(sock_open, remove);
    assert_int_equal(calls, 0);
    h_rec_free(&p.rec);
}

static void test_close_mid_file_closes_the_file(void **state)
{
    (void)state;
    close_or_remove_mid_file(false);
}

static void test_remove_mid_file_closes_the_file_keeps_the_socket(void **state)
{
    (void)state;
    close_or_remove_mid_file(true);
}

/* ---- misuse: refused, and the caller keeps its fd ------------------------------------- */

static void test_sendfile_misuse(void **state)
{
    (void)state;
    int f = temp_file(4096, false), g = temp_file(4096, false), z = temp_file(0, false);
    h_pair p;
    h_pair_open(&p, NULL);
    int other[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, other), 0);

    int r_unreg = vex_sendfile(p.loop, other[0], f, 0, 10), e_unreg = errno;
    int r_neg = vex_sendfile(p.loop, p.s, -1, 0, 10), e_neg = errno;
    int r_range = vex_sendfile(p.loop, 1 << 30, f, 0, 10), e_range = errno;
    bool f_open_after_refusals = !fd_closed(f);

    int r_first = vex_sendfile(p.loop, p.s, f, 0, 4096);
    int r_busy = vex_sendfile(p.loop, p.s, g, 0, 4096), e_busy = errno;
    ssize_t w_busy = vex_write(p.loop, p.s, "x", 1);
    int e_wbusy = errno;
    bool g_open = !fd_closed(g);
    h_run_for(p.loop, 50);
    unsigned char got[4096];
    size_t n = h_recv_exact(p.c, got, sizeof got, 2000);
    int drains = p.rec.drains;      /* the EAGAIN asked for one */

    int r_zero = vex_sendfile(p.loop, p.s, z, 0, 0);
    h_run_for(p.loop, 20);
    bool z_closed = fd_closed(z);

    vex_shutdown_write(p.loop, p.s);
    int r_shut = vex_sendfile(p.loop, p.s, g, 0, 10), e_shut = errno;
    bool g_open_after_shut = !fd_closed(g);

    h_pair_close(&p);
    close(g);
    close(other[0]);
    close(other[1]);
    assert_int_equal(r_unreg, -1);
    assert_int_equal(e_unreg, EBADF);
    assert_int_equal(r_neg, -1);
    assert_int_equal(e_neg, EINVAL);
    assert_int_equal(r_range, -1);
    assert_int_equal(e_range, EBADF);
    assert_true(f_open_after_refusals);
    assert_int_equal(r_first, 0);
    assert_int_equal(r_busy, -1);
    assert_int_equal(e_busy, EAGAIN);
    assert_int_equal(w_busy, -1);
    assert_int_equal(e_wbusy, EAGAIN);
    assert_true(g_open);
    assert_int_equal(n, sizeof got);
    assert_int_equal(drains, 1);
    assert_int_equal(r_zero, 0);
    assert_true(z_closed);
    assert_int_equal(r_shut, -1);
    assert_int_equal(e_shut, EPIPE);
    assert_true(g_open_after_shut);
    assert_true(fd_closed(f));
    h_rec_free(&p.rec);
}

int h_group_sendfile(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_sendfile_after_queued_bytes_keeps_order),
        H_TEST(test_sendfile_of_an_evicted_file_keeps_order),
        H_TEST(test_sendfile_of_a_file_cold_from_its_middle),
        H_TEST(test_sendfile_small_pieces_to_a_fast_reader),
        H_TEST(test_write_pending_counts_the_file),
        H_TEST(test_many_files_at_once_on_a_small_ring),
        H_TEST(test_short_file_fails_the_socket_with_eio),
        H_TEST(test_unreadable_file_fails_the_socket_with_its_errno),
        H_TEST(test_peer_reset_during_file),
        H_TEST(test_close_mid_file_closes_the_file),
        H_TEST(test_remove_mid_file_closes_the_file_keeps_the_socket),
        H_TEST(test_sendfile_misuse),
    };
    return cmocka_run_group_tests_name("sendfile", tests, NULL, NULL);
}
