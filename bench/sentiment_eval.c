/* SPDX-License-Identifier: Apache-2.0 */
/* The sentiment processor's evaluation and cost: reads the labelled splits
 * in tests/sentiment/ (README.md there), prints accuracy, macro-F1 and
 * complaint F1 per language and split against the targets, and the
 * analyser's cost per 300-character record.  Run by bench/sentiment.
 *   sentiment_eval DATADIR LANGID_DIR TESTS_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyse.h"

static int cls(const char *label)
{
    return strcmp(label, "positive") == 0 ? 0 : strcmp(label, "negative") == 0 ? 1 : 2;
}

static double f1(int tp, int fp, int fn)
{
    return tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
}

static void target(const char *what, double v, double want)
{
    printf("  %-34s %.3f  target >= %.2f  %s\n", what, v, want, v >= want ? "met" : "MISSED");
}

static int eval(struct sa_model *m, const char *dir, const char *lang, const char *split)
{
    char path[4096], line[8192];
    snprintf(path, sizeof path, "%s/%s.%s.tsv", dir, lang, split);
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    int conf[3][3] = {{0}}, n = 0, ctp = 0, cfp = 0, cfn = 0;
    int tr = strcmp(lang, "tr") == 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *save = NULL, *label = strtok_r(line, "\t", &save), *complaint = NULL, *text;
        if (tr) {
            complaint = strtok_r(NULL, "\t", &save);
            strtok_r(NULL, "\t", &save); /* style */
        }
        text = strtok_r(NULL, "", &save);
        if (!label || !text)
            continue;
        struct sa_result r;
        sa_analyse(m, text, strlen(text), NULL, &r);
        conf[cls(label)][cls(r.label)]++;
        n++;
        if (complaint) {
            int gold = strcmp(complaint, "true") == 0;
            ctp += gold && r.complaint;
            cfp += !gold && r.complaint;
            cfn += gold && !r.complaint;
        }
    }
    fclose(f);
    int pn = conf[0][0] + conf[0][1] + conf[0][2] + conf[1][0] + conf[1][1] + conf[1][2];
    double acc = pn ? (double)(conf[0][0] + conf[1][1]) / pn : 0;
    printf("%s %s (%d sentences, %s):\n", lang, split, n, path);
    if (tr) {
        double mf = 0;
        for (int c = 0; c < 3; c++) {
            int fp = 0, fn = 0;
            for (int o = 0; o < 3; o++)
                if (o != c) {
                    fp += conf[o][c];
                    fn += conf[c][o];
                }
            mf += f1(conf[c][c], fp, fn) / 3;
        }
        target("positive/negative accuracy", acc, 0.80);
        target("3-class macro-F1", mf, 0.65);
        target("complaint F1", f1(ctp, cfp, cfn), 0.80);
    } else {
        target("positive/negative accuracy", acc, 0.75);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DATADIR LANGID_DIR TESTS_DIR\n", argv[0]);
        return 2;
    }
    struct sa_model *m;
    char err[512];
    if (sa_model_load(&m, argv[1], argv[2], err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("model %s; dev splits were used to write the word lists, test splits were not\n",
           SA_MODEL_NAME);
    const char *langs[] = {"tr", "en"}, *splits[] = {"dev", "test"};
    for (int l = 0; l < 2; l++)
        for (int s = 0; s < 2; s++)
            if (eval(m, argv[3], langs[l], splits[s]) < 0)
                return 1;
    /* Cost per 300-character record, language identification included. */
    const char *samples[] = {
        "Merhaba, 12 gün önce verdiğim siparişim hâlâ gelmedi ve müşteri hizmetlerine bir türlü "
        "ulaşamıyorum. Kargo takip numarası da çalışmıyor. Ürünün iadesini ve paramın hesabıma "
        "yatırılmasını istiyorum, aksi halde tüketici hakem heyetine başvuracağım!!! Lütfen en "
        "kısa sürede dönüş yapın.",
        "Hello, I ordered a pair of headphones two weeks ago and the package still has not "
        "arrived. The tracking page has shown the same status for five days and nobody answers "
        "the support line. I would like a refund if it cannot be delivered this week. Thanks for "
        "your help, the last order was great.",
    };
    for (int i = 0; i < 2; i++) {
        size_t len = strlen(samples[i]);
        struct timespec a, b;
        struct sa_result r;
        int iters = 20000;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int k = 0; k < iters; k++)
            sa_analyse(m, samples[i], len, NULL, &r);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / iters;
        printf("cost: %.2f us per record of %zu bytes (%s, %s); target <= 5 us per 300 chars: %s\n",
               us, len, r.lang, r.label, us <= 5 ? "met" : "MISSED");
    }
    sa_model_free(m);
    return 0;
}
