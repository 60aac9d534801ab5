/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl cluster init: create the JetStream stream of a kanal cluster, or
 * check that the one there is fit (docs/cluster.md).  Unlike the other
 * commands it talks to NATS, not to the store. */
#include "kanalctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

static int run(struct ctl *ctl, int argc, char **argv);

const struct ctl_command ctl_cluster = {
    "cluster",
    "init: create or check the NATS JetStream stream of a kanal cluster",
    "usage: kanalctl cluster init [OPTIONS]\n"
    "\n"
    "Create the stream that edge nodes publish records to (the nats sink) and\n"
    "core nodes consume: file storage, REPLICAS replicas, the subjects\n"
    "PREFIX.>, and a duplicate window in which a record published twice (same\n"
    "Nats-Msg-Id, the record's id) is stored once.  When the stream exists,\n"
    "check it instead and print every setting that differs; nothing is changed.\n"
    "\n"
    "Options:\n"
    "      --servers URLS          NATS servers, comma-separated (default\n"
    "                              nats://127.0.0.1:4222)\n"
    "      --stream NAME           the stream (default KANAL)\n"
    "      --subject-prefix P      records' subjects are P.<source>.<kind> (default\n"
    "                              kanal.records)\n"
    "      --replicas N            replicas of the stream, 1..5 (default 3)\n"
    "      --duplicate-window SEC  seconds of de-duplication (default 120)\n"
    "      --creds FILE            a NATS .creds file to authenticate with\n"
    "      --user NAME             a user name; the password is read from\n"
    "                              $KANAL_NATS_PASSWORD (never from the command line)\n"
    "      --tls-ca FILE           CA bundle that verifies the servers' TLS\n"
    "      --outbox                also the outbox stream, a work queue that core\n"
    "                              nodes hand messages to and edge nodes send from\n"
    "                              ([kanald] outbox_cluster): the same storage,\n"
    "                              replicas and window, subjects OUTBOX_SUBJECT.>\n"
    "      --outbox-stream NAME    the outbox stream (default KANAL_OUTBOX)\n"
    "      --outbox-subject P      its messages' subjects are P.<source> (default\n"
    "                              kanal.outbox)\n"
    "  -h, --help                  this text\n"
    "\n"
    "Exit status: 0 the stream was created or is fit; 1 it differs, or NATS\n"
    "refused or did not answer; 2 bad usage.\n"
    "\n"
    "Example:\n"
    "  kanalctl cluster init --servers nats://n1:4222,nats://n2:4222,nats://n3:4222\n",
    run,
};

struct want {
    const char *servers, *stream, *prefix, *creds, *user, *tls_ca;
    long replicas, window_s;
    int outbox; /* also the outbox's work-queue stream */
    const char *outbox_stream, *outbox_subject;
};

/* Print what differs between the stream there and what a cluster needs. */
static int differs(const jsStreamConfig *c, const struct want *w, const char *subject,
                   int workqueue)
{
    int n = 0;
    if (workqueue != (c->Retention == js_WorkQueuePolicy)) {
        printf("  retention: %s, wanted %s\n", workqueue ? "not work-queue" : "work-queue",
               workqueue ? "work-queue" : "limits");
        n++;
    }
    if (c->Storage != js_FileStorage) {
        printf("  storage: memory, wanted file\n");
        n++;
    }
    if (c->Replicas != w->replicas) {
        printf("  replicas: %lld, wanted %ld\n", (long long)c->Replicas, w->replicas);
        n++;
    }
    if (c->Duplicates != (int64_t)w->window_s * 1000000000LL) {
        printf("  duplicate_window: %llds, wanted %lds\n",
               (long long)(c->Duplicates / 1000000000LL), w->window_s);
        n++;
    }
    int has = 0;
    for (int i = 0; i < c->SubjectsLen; i++)
        has |= strcmp(c->Subjects[i], subject) == 0;
    if (!has) {
        printf("  subjects:");
        for (int i = 0; i < c->SubjectsLen; i++)
            printf(" %s", c->Subjects[i]);
        printf(", wanted %s\n", subject);
        n++;
    }
    return n;
}

static int connect_js(const struct want *w, natsConnection **nc, jsCtx **js)
{
    natsOptions *o = NULL;
    char *list = strdup(w->servers);
    const char *urls[32];
    int n = 0;
    for (char *save = NULL, *t = list ? strtok_r(list, ", ", &save) : NULL; t && n < 32;
         t = strtok_r(NULL, ", ", &save))
        urls[n++] = t;
    natsStatus st = n ? natsOptions_Create(&o) : NATS_INVALID_ARG;
    if (st == NATS_OK)
        st = natsOptions_SetServers(o, urls, n);
    if (st == NATS_OK && w->creds)
        st = natsOptions_SetUserCredentialsFromFiles(o, w->creds, NULL);
    if (st == NATS_OK && w->user)
        st = natsOptions_SetUserInfo(o, w->user, getenv("KANAL_NATS_PASSWORD"));
    if (st == NATS_OK && w->tls_ca)
        st = natsOptions_LoadCATrustedCertificates(o, w->tls_ca);
    if (st == NATS_OK)
        st = natsConnection_Connect(nc, o);
    if (st == NATS_OK)
        st = natsConnection_JetStream(js, *nc, NULL);
    natsOptions_Destroy(o);
    free(list);
    if (st != NATS_OK)
        fprintf(stderr, "kanalctl cluster: connecting to %s: %s\n", w->servers,
                natsStatus_GetText(st));
    return st == NATS_OK ? 0 : -1;
}

/* Create the stream name on prefix.> or check the one there. */
static int init_stream(jsCtx *js, const struct want *w, const char *name, const char *prefix,
                       int workqueue)
{
    char subject[300];
    snprintf(subject, sizeof subject, "%s.>", prefix);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 10000;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    int rc = CTL_FAILED;
    natsStatus st = js_GetStreamInfo(&si, js, name, &jo, &jerr);
    if (st == NATS_OK && si) {
        printf("stream %s exists\n", name);
        int n = differs(si->Config, w, subject, workqueue);
        if (n)
            printf("stream %s differs from what the cluster needs (%d setting%s); nothing "
                   "changed\n",
                   name, n, n == 1 ? "" : "s");
        else
            printf("stream %s is fit: file storage, %ld replicas, subjects %s, duplicate "
                   "window %lds\n",
                   name, w->replicas, subject, w->window_s);
        rc = n ? CTL_FAILED : CTL_OK;
    } else if (st == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        const char *subjects[] = {subject};
        cfg.Name = name;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Replicas = w->replicas;
        cfg.Duplicates = (int64_t)w->window_s * 1000000000LL;
        if (workqueue)
            cfg.Retention = js_WorkQueuePolicy;
        st = js_AddStream(&si, js, &cfg, &jo, &jerr);
        if (st == NATS_OK) {
            printf("stream %s created: file storage, %ld replicas, subjects %s, duplicate "
                   "window %lds\n",
                   name, w->replicas, subject, w->window_s);
            rc = CTL_OK;
        } else {
            fprintf(stderr, "kanalctl cluster: creating stream %s: %s (JetStream error %d)\n",
                    name, nats_GetLastError(NULL), (int)jerr);
        }
    } else {
        fprintf(stderr, "kanalctl cluster: reading stream %s: %s\n", name,
                nats_GetLastError(NULL));
    }
    jsStreamInfo_Destroy(si);
    return rc;
}

static int init(const struct want *w)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    if (connect_js(w, &nc, &js) < 0)
        return CTL_FAILED;
    int rc = init_stream(js, w, w->stream, w->prefix, 0);
    if (w->outbox) {
        int r = init_stream(js, w, w->outbox_stream, w->outbox_subject, 1);
        if (rc == CTL_OK)
            rc = r;
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return rc;
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        CTL_COMMON_OPTIONS,         {"servers", 1, NULL, 'S'},
        {"stream", 1, NULL, 'n'},   {"subject-prefix", 1, NULL, 'p'},
        {"replicas", 1, NULL, 'r'}, {"duplicate-window", 1, NULL, 'w'},
        {"creds", 1, NULL, 'c'},    {"user", 1, NULL, 'u'},
        {"tls-ca", 1, NULL, 't'},   {"outbox", 0, NULL, 'o'},
        {"outbox-stream", 1, NULL, 'O'}, {"outbox-subject", 1, NULL, 'P'},
        {0}};
    struct want w = {"nats://127.0.0.1:4222", "KANAL", "kanal.records", NULL, NULL, NULL, 3, 120,
                     0, "KANAL_OUTBOX", "kanal.outbox"};
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'S':
            w.servers = optarg;
            break;
        case 'n':
            w.stream = optarg;
            break;
        case 'p':
            w.prefix = optarg;
            break;
        case 'c':
            w.creds = optarg;
            break;
        case 'u':
            w.user = optarg;
            break;
        case 't':
            w.tls_ca = optarg;
            break;
        case 'o':
            w.outbox = 1;
            break;
        case 'O':
            w.outbox_stream = optarg;
            break;
        case 'P':
            w.outbox_subject = optarg;
            break;
        case 'r':
            w.replicas = strtol(optarg, &end, 10);
            if (*end || w.replicas < 1 || w.replicas > 5)
                return ctl_usage_error(&ctl_cluster, "--replicas wants 1..5, not '%s'", optarg);
            break;
        case 'w':
            w.window_s = strtol(optarg, &end, 10);
            if (*end || w.window_s < 1)
                return ctl_usage_error(&ctl_cluster, "--duplicate-window wants seconds, not '%s'",
                                       optarg);
            break;
        default: {
            int r = ctl_common_option(ctl, &ctl_cluster, opt);
            if (r >= 0)
                return r;
        }
        }
    }
    if (optind >= argc || strcmp(argv[optind], "init") != 0 || optind + 1 != argc)
        return ctl_usage_error(&ctl_cluster, "the only subcommand is 'init'");
    if (strpbrk(w.stream, ". *>") || !*w.prefix || strpbrk(w.prefix, " *>"))
        return ctl_usage_error(&ctl_cluster, "--stream is a name without '.', '*', '>' and "
                                             "--subject-prefix has no wildcards");
    if (strpbrk(w.outbox_stream, ". *>") || !*w.outbox_subject ||
        strpbrk(w.outbox_subject, " *>") || !strcmp(w.outbox_stream, w.stream))
        return ctl_usage_error(&ctl_cluster, "--outbox-stream is a name without '.', '*', '>' "
                                             "other than --stream, and --outbox-subject has no "
                                             "wildcards");
    return init(&w);
}
