/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl score --svg: an audience's interaction network drawn with
 * Graphviz (libgvc, the sfdp layout, which places large graphs by force).
 * libgvc is EPL-licensed: it is linked into kanalctl only, never into
 * kanald or a plugin, and this is the one file that includes it.
 *
 * What a marketer reads from it: big nodes move the audience (influence),
 * green ones speak well of the brand and help others (advocates), red ones
 * wait for an answer (at risk), orange ones are critics; thick edges are
 * much (and recent) interaction; the brand is the blue box, so a star
 * around it is a hub-and-spoke audience and clusters away from it are a
 * community that talks among itself. */
#include "score.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gvc.h>

#include "graph.h"

#define COLOUR_BRAND "#2f6db5"
#define COLOUR_ADVOCATE "#2e9d4e"
#define COLOUR_RISK "#d64541"
#define COLOUR_CRITIC "#e67e22"
#define COLOUR_NEUTRAL "#9aa5b1"

/* Node diameters in inches: the least and the most influential. */
#define NODE_MIN 0.15
#define NODE_MAX 1.2

static const char *colour(json_t *row)
{
    const char *pos = json_string_value(json_object_get(row, "position"));
    /* Risk first: a customer waiting for an answer is the call to make. */
    if (json_is_true(json_object_get(json_object_get(row, "risk"), "at_risk")))
        return COLOUR_RISK;
    if (json_is_true(json_object_get(json_object_get(row, "advocacy"), "advocate")))
        return COLOUR_ADVOCATE;
    if (pos && strcmp(pos, "critic") == 0)
        return COLOUR_CRITIC;
    return COLOUR_NEUTRAL;
}

static void set(void *obj, const char *name, const char *value)
{
    agsafeset(obj, (char *)name, (char *)value, "");
}

static void set_num(void *obj, const char *name, double v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.3f", v);
    set(obj, name, buf);
}

/* Which nodes to draw: drawn[v] = 1 for the brand and for at most
 * max_nodes contacts, the most influential first (doc's rows are in that
 * order; nodes the kept scores do not know come last).  row[v] is v's
 * scores row or NULL. */
static void choose(json_t *doc, const struct score_build *b, uint64_t max_nodes, uint8_t *drawn,
                   json_t **row)
{
    json_t *node_of = json_object();
    for (uint32_t v = 1; v < b->nnodes; v++)
        json_object_set_new(node_of, b->ids[v], json_integer(v));
    uint64_t n = 0;
    size_t i;
    json_t *r;
    drawn[SCORE_BRAND] = 1;
    json_array_foreach(json_object_get(doc, "contacts"), i, r)
    {
        json_t *v = json_object_get(node_of, json_string_value(json_object_get(r, "contact")));
        if (!v)
            continue;
        row[json_integer_value(v)] = r;
        if (max_nodes == 0 || n < max_nodes) {
            drawn[json_integer_value(v)] = 1;
            n++;
        }
    }
    for (uint32_t v = 1; v < b->nnodes && (max_nodes == 0 || n < max_nodes); v++)
        if (!row[v]) {
            drawn[v] = 1;
            n++;
        }
    json_decref(node_of);
}

static void title(Agraph_t *g, json_t *doc, uint32_t drawn, uint32_t nodes)
{
    char text[512];
    snprintf(text, sizeof text,
             "audience %s, seq %lld: %u of %u contacts; size = influence, green = advocate, "
             "red = at risk, orange = critic, blue box = the brand",
             json_string_value(json_object_get(doc, "audience")),
             (long long)json_integer_value(json_object_get(doc, "seq")), drawn, nodes);
    set(g, "label", text);
    set(g, "labelloc", "t");
    set(g, "fontname", "sans-serif");
}

int score_svg(const char *file, json_t *doc, const struct score_build *b, uint64_t top,
              uint64_t max_nodes)
{
    struct score_graph sg;
    if (score_graph_build(&sg, b->nnodes, &b->edges) != 0) {
        fprintf(stderr, "kanalctl score: the audience's graph names a node it does not have\n");
        return CTL_FAILED;
    }
    uint8_t *drawn = calloc(b->nnodes, 1);
    json_t **row = calloc(b->nnodes, sizeof *row);
    Agnode_t **gn = calloc(b->nnodes, sizeof *gn);
    if (!drawn || !row || !gn) {
        free(drawn);
        free(row);
        free(gn);
        score_graph_free(&sg);
        fprintf(stderr, "kanalctl score: out of memory drawing %u nodes\n", b->nnodes);
        return CTL_FAILED;
    }
    choose(doc, b, max_nodes, drawn, row);
    double max_inf = 0, max_w = 0;
    uint32_t ndrawn = 0;
    for (uint32_t v = 1; v < b->nnodes; v++)
        if (drawn[v]) {
            ndrawn++;
            double inf = json_number_value(json_object_get(row[v], "influence"));
            if (inf > max_inf)
                max_inf = inf;
        }
    for (uint32_t v = 0; v < sg.n; v++)
        for (size_t i = sg.out_start[v]; i < sg.out_start[v + 1]; i++)
            if (drawn[v] && drawn[sg.out_dst[i]] && sg.out_w[i] > max_w)
                max_w = sg.out_w[i];

    GVC_t *gvc = gvContext();
    Agraph_t *g = agopen("audience", Agdirected, NULL);
    title(g, doc, ndrawn, b->nnodes - 1);
    set(g, "overlap", "prism");
    set(g, "outputorder", "edgesfirst");
    agattr(g, AGNODE, "shape", "circle");
    agattr(g, AGNODE, "style", "filled");
    /* "shape": the circle keeps its size, a longer name overflows it. */
    agattr(g, AGNODE, "fixedsize", "shape");
    agattr(g, AGNODE, "fontname", "sans-serif");
    agattr(g, AGNODE, "fontsize", "10");
    agattr(g, AGNODE, "label", "");
    agattr(g, AGNODE, "color", "#ffffff");
    agattr(g, AGEDGE, "color", "#5d6d7e80");
    agattr(g, AGEDGE, "arrowsize", "0.4");

    gn[SCORE_BRAND] = agnode(g, "brand", 1);
    set(gn[SCORE_BRAND], "shape", "box");
    set(gn[SCORE_BRAND], "fixedsize", "false");
    set(gn[SCORE_BRAND], "label", "brand");
    set(gn[SCORE_BRAND], "fillcolor", COLOUR_BRAND);
    set(gn[SCORE_BRAND], "fontcolor", "#ffffff");
    /* Labels: the top rows, which carry their contact's name. */
    json_t *top_ids = json_object();
    json_t *rows = json_object_get(doc, "contacts"), *r;
    size_t i;
    json_array_foreach(rows, i, r)
    {
        if (top && i >= top)
            break;
        json_object_set_new(top_ids, json_string_value(json_object_get(r, "contact")), json_true());
    }
    for (uint32_t v = 1; v < b->nnodes; v++) {
        if (!drawn[v])
            continue;
        gn[v] = agnode(g, b->ids[v], 1);
        double inf = json_number_value(json_object_get(row[v], "influence"));
        /* Area grows with influence: the diameter with its square root. */
        double d = NODE_MIN + (NODE_MAX - NODE_MIN) * (max_inf > 0 ? sqrt(inf / max_inf) : 0);
        set_num(gn[v], "width", d);
        set_num(gn[v], "height", d);
        set(gn[v], "fillcolor", colour(row[v]));
        if (row[v] && json_object_get(top_ids, b->ids[v]))
            set(gn[v], "label", score_label(row[v]));
        set(gn[v], "tooltip", b->ids[v]);
    }
    json_decref(top_ids);
    for (uint32_t v = 0; v < sg.n; v++)
        for (size_t k = sg.out_start[v]; k < sg.out_start[v + 1]; k++) {
            uint32_t u = sg.out_dst[k];
            if (!drawn[v] || !drawn[u])
                continue;
            Agedge_t *e = agedge(g, gn[v], gn[u], NULL, 1);
            set_num(e, "penwidth", 0.4 + 3.6 * (max_w > 0 ? sg.out_w[k] / max_w : 0));
            set_num(e, "weight", sg.out_w[k]);
        }

    int rc = CTL_OK;
    if (gvLayout(gvc, g, "sfdp") != 0) {
        fprintf(stderr, "kanalctl score: Graphviz could not lay out the graph with sfdp (is its "
                        "layout plugin installed? 'dot -c' registers the plugins)\n");
        rc = CTL_FAILED;
    } else {
        /* Opened here, not by Graphviz, so that a path it cannot write is
         * reported with its reason. */
        FILE *f = fopen(file, "w");
        if (!f || gvRender(gvc, g, "svg", f) != 0 || ferror(f)) {
            fprintf(stderr, "kanalctl score: cannot write the picture to %s: %s\n", file,
                    f ? "write error" : strerror(errno));
            rc = CTL_FAILED;
        }
        if (f && fclose(f) != 0 && rc == CTL_OK) {
            fprintf(stderr, "kanalctl score: cannot write the picture to %s: %s\n", file,
                    strerror(errno));
            rc = CTL_FAILED;
        }
        gvFreeLayout(gvc, g);
    }
    agclose(g);
    gvFreeContext(gvc);
    free(drawn);
    free(row);
    free(gn);
    score_graph_free(&sg);
    return rc;
}
