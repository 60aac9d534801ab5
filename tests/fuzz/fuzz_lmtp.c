/* SPDX-License-Identifier: Apache-2.0 */
/* The LMTP listener (plugins/email/lmtp.c) on real sockets, through the
 * fake host's fd watches, which fake_poll runs as kanald's loop would.  It
 * listens on a unix socket: TCP would leave a port in TIME_WAIT per input,
 * and the kernel runs out of them within a minute.  The input is a script:
 * a flags byte (store fails), then ops of one byte:
 *
 *   op % 4 == 0, 1  send the next size(op / 4) bytes (1 to 32, then 64 to
 *                   1M) of the input: commands, DATA, dot-stuffing, any split
 *   2               read the replies so far
 *   3               half-close (the client sends nothing more)
 *
 * After the script the client closes; every session must end and be freed
 * (LeakSanitizer), and what a DATA emits must be what the host accepts. */
#include "plugin_fuzz.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "email.h"

const struct kanal_plugin *kanal_plugin_entry(void);

static char listen_spec[108];
static const char *config[] = {
    "lmtp_listen", listen_spec, "brand_addresses", "destek@marka.example", "max_message_size",
    "64K",         NULL,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(listen_spec, sizeof listen_spec, "unix:/tmp/kanal-fuzz-lmtp-%d.sock", (int)getpid());
    mime_init(); /* kept between inputs, as in fuzz_mime.c */
    return 0;
}

static void drain(int fd)
{
    char buf[65536];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned flags = fuzz_byte(&in);
    struct kanal_source *src = fake_source_new(kanal_plugin_entry(), (const char *const *)config);
    if (fake_source_start(src) < 0)
        FUZZ_FAIL("the email plugin did not start");
    fake_set_store_fails(src, flags & SEL_STORE_FAILS);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", listen_spec + 5);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0), rc = -1;
    /* A unix socket's connect sleeps only while the listener's backlog is
     * full; interrupted there (libFuzzer's SIGALRM), it connected nothing
     * and is made again. */
    while (fd >= 0 && (rc = connect(fd, (struct sockaddr *)&a, sizeof a)) < 0 && errno == EINTR)
        ;
    if (rc < 0)
        FUZZ_FAIL("cannot connect to the LMTP listener: %s", strerror(errno));
    fake_poll(src, 0); /* accept, greet */
    int ops = 0;
    while (in.n && ops++ < 256) {
        unsigned op = fuzz_byte(&in);
        switch (op % 4) {
        case 0:
        case 1: {
            unsigned k = op / 4;
            const uint8_t *p;
            size_t n = fuzz_take(&in, k < 32 ? k + 1 : (size_t)1 << (k - 26), &p);
            send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
            break;
        }
        case 2:
            drain(fd);
            break;
        default:
            shutdown(fd, SHUT_WR);
            break;
        }
        for (int i = 0; i < 3; i++)
            fake_poll(src, 0);
    }
    drain(fd);
    close(fd);
    for (int i = 0; i < 4; i++)
        fake_poll(src, 0);
    fake_source_free(src);
    return 0;
}
