/*
 * request_id.c — see request_id.h. The prefix is the only state: written
 * once by rid_init before any worker starts, read-only afterwards.
 */
#include "request_id.h"
#include "mix64.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

static _Atomic uint64_t g_prefix;

void rid_init(void)
{
    if (atomic_load(&g_prefix))
        return;
    uint64_t p = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &p, sizeof p) != (ssize_t)sizeof p)
            p = 0;
        close(fd);
    }
    if (!p) {   /* no urandom: time and pid still differ between runs */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        p = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40));
    }
    atomic_store(&g_prefix, p | 1);
}

bool rid_valid(const char *s, size_t n)
{
    if (n == 0 || n > RID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
               || c == '.' || c == '_' || c == ':' || c == '+' || c == '/' || c == '='
               || c == '@' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

void rid_generate(char *out, uint64_t seq)
{
    static const char hexd[] = "0123456789abcdef";
    uint64_t v = atomic_load_explicit(&g_prefix, memory_order_relaxed) + seq;
    for (int i = RID_GEN_LEN - 2; i >= 0; i -= 2, v >>= 8) {   /* a byte per turn */
        out[i] = hexd[(v >> 4) & 15];
        out[i + 1] = hexd[v & 15];
    }
}

void rid_step(char *text)
{
    /* Add one to the hexadecimal text: a carry past 'f' is one in sixteen. */
    for (int i = RID_GEN_LEN - 1; i >= 0; i--) {
        char c = text[i];
        if (c == 'f') {
            text[i] = '0';
            continue;
        }
        text[i] = c == '9' ? 'a' : (char)(c + 1);
        return;
    }
}
