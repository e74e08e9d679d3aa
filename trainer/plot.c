/* A hand-written SVG line chart: fixed canvas, linear axes, "nice" ticks. */
#include "plot.h"

#include <math.h>
#include <string.h>

#define W      760.0
#define H      520.0
#define LEFT   80.0
#define RIGHT  30.0
#define TOP    70.0
#define BOTTOM 70.0

#define COLOR_ROUTER "#1f5fbf"
#define COLOR_RANDOM "#7f7f7f"
#define COLOR_TARGET "#e07b00"
#define COLOR_CHOICE "#c8102e"

struct frame {
    double ymin, ymax; /* quality range shown, in percent */
};

static double px(double x_share)
{
    return LEFT + x_share * (W - LEFT - RIGHT);
}

static double py(const struct frame *f, double q_percent)
{
    return TOP + (f->ymax - q_percent) / (f->ymax - f->ymin) * (H - TOP - BOTTOM);
}

static void escaped(FILE *fp, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", fp);
            break;
        case '<':
            fputs("&lt;", fp);
            break;
        case '>':
            fputs("&gt;", fp);
            break;
        case '"':
            fputs("&quot;", fp);
            break;
        default:
            fputc(*s, fp);
        }
    }
}

/* Quality of a point as a percentage of the premium-only quality. */
static double quality(const struct sl_curve *c, double y)
{
    return c->q_strong > 0 ? 100.0 * y / c->q_strong : 100.0 * y;
}

static void axes(FILE *fp, const struct frame *f)
{
    double span = f->ymax - f->ymin;
    double step = span <= 12 ? 1 : span <= 30 ? 5 : span <= 60 ? 10 : 20;

    /* Grid and ticks: x every 10%, y every `step` percent. */
    for (int k = 0; k <= 10; k++) {
        double x = px(k / 10.0);
        fprintf(fp,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">%d%%</text>\n",
                x, TOP, x, H - BOTTOM, x, H - BOTTOM + 18, k * 10);
    }
    for (double q = ceil(f->ymin / step) * step; q <= f->ymax + 1e-9; q += step) {
        double y = py(f, q);
        fprintf(fp,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"12\">%g%%</text>\n",
                LEFT, y, W - RIGHT, y, LEFT - 8, y + 4, q);
    }
    fprintf(fp,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#333\"/>\n",
            LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
    fprintf(fp,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\">"
            "calls sent to the premium tier</text>\n",
            (LEFT + W - RIGHT) / 2, H - 22);
    fprintf(fp,
            "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" "
            "font-size=\"14\">quality (%% of premium-only quality)</text>\n",
            22.0, (TOP + H - BOTTOM) / 2);
}

static void legend(FILE *fp, const struct sl_plot *p)
{
    double x = W - RIGHT - 250, y = H - BOTTOM - 20;
    int rows = 2 + (!isnan(p->target_quality) || !isnan(p->target_share)) + p->have_choice;

    y -= 20.0 * rows;
    fprintf(fp,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"240\" height=\"%.1f\" fill=\"white\" "
            "stroke=\"#999\"/>\n",
            x, y, 20.0 * rows + 10);
    y += 18;
    fprintf(fp,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"2.5\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">router</text>\n",
            x + 10, y - 4, x + 40, y - 4, COLOR_ROUTER, x + 48, y);
    y += 20;
    fprintf(fp,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"1.5\" stroke-dasharray=\"6,4\"/><text x=\"%.1f\" y=\"%.1f\" "
            "font-size=\"12\">random router</text>\n",
            x + 10, y - 4, x + 40, y - 4, COLOR_RANDOM, x + 48, y);
    if (!isnan(p->target_quality) || !isnan(p->target_share)) {
        y += 20;
        fprintf(fp,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"1.5\" stroke-dasharray=\"2,3\"/><text x=\"%.1f\" y=\"%.1f\" "
                "font-size=\"12\">target: %s %g%%</text>\n",
                x + 10, y - 4, x + 40, y - 4, COLOR_TARGET, x + 48, y,
                isnan(p->target_quality) ? "premium share &#8804;" : "quality &#8805;",
                100 * (isnan(p->target_quality) ? p->target_share : p->target_quality));
    }
    if (p->have_choice) {
        y += 20;
        fprintf(fp,
                "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/><text x=\"%.1f\" "
                "y=\"%.1f\" font-size=\"12\">chosen threshold</text>\n",
                x + 25, y - 4, COLOR_CHOICE, x + 48, y);
    }
}

int sl_plot_curve_svg(FILE *fp, const struct sl_curve *c, const struct sl_plot *p)
{
    struct frame f;
    double lo = quality(c, c->q_weak), hi = 100.0, last_x = -1;

    if (c->n == 0)
        return SL_EINVAL;
    for (size_t k = 0; k < c->n; k++) {
        double q = quality(c, c->pts[k].y);
        lo = q < lo ? q : lo;
        hi = q > hi ? q : hi;
    }
    if (!isnan(p->target_quality)) {
        lo = fmin(lo, 100 * p->target_quality);
        hi = fmax(hi, 100 * p->target_quality);
    }
    f.ymin = floor((lo - 1) / 5) * 5;
    f.ymax = ceil((hi + 1) / 5) * 5;

    fprintf(fp,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, "
            "sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H, W, H);
    fprintf(fp,
            "<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"18\" "
            "font-weight=\"bold\">",
            W / 2);
    escaped(fp, p->title);
    fputs("</text>\n", fp);
    if (p->subtitle) {
        fprintf(fp,
                "<text x=\"%.1f\" y=\"50\" text-anchor=\"middle\" font-size=\"13\" "
                "fill=\"#444\">",
                W / 2);
        escaped(fp, p->subtitle);
        fputs("</text>\n", fp);
    }
    axes(fp, &f);

    /* Random routing: quality grows linearly from all-weak to all-premium. */
    fprintf(fp,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"1.5\" stroke-dasharray=\"6,4\"/>\n",
            px(0), py(&f, quality(c, c->q_weak)), px(1), py(&f, quality(c, c->q_strong)),
            COLOR_RANDOM);
    if (!isnan(p->target_quality))
        fprintf(fp,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"1.5\" stroke-dasharray=\"2,3\"/>\n",
                px(0), py(&f, 100 * p->target_quality), px(1), py(&f, 100 * p->target_quality),
                COLOR_TARGET);
    if (!isnan(p->target_share))
        fprintf(fp,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"1.5\" stroke-dasharray=\"2,3\"/>\n",
                px(p->target_share), py(&f, f.ymax), px(p->target_share), py(&f, f.ymin),
                COLOR_TARGET);

    /* The router: at most one vertex per 1/2000 of the x axis (well under a pixel). */
    fprintf(fp,
            "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" "
            "stroke-linejoin=\"round\" points=\"",
            COLOR_ROUTER);
    for (size_t k = 0; k < c->n; k++) {
        if (k + 1 < c->n && k > 0 && c->pts[k].x - last_x < 0.0005)
            continue;
        fprintf(fp, "%.1f,%.1f ", px(c->pts[k].x), py(&f, quality(c, c->pts[k].y)));
        last_x = c->pts[k].x;
    }
    fputs("\"/>\n", fp);

    if (p->have_choice) {
        double cx = px(p->choice_x), cy = py(&f, 100 * p->choice_quality);
        bool right = p->choice_x < 0.6;
        fprintf(fp, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\"/>\n", cx, cy,
                COLOR_CHOICE);
        fprintf(fp,
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"12\" fill=\"%s\">"
                "threshold %.3g: %.1f%% premium, %.1f%% quality</text>\n",
                right ? cx + 10 : cx - 10, cy + 18, right ? "start" : "end", COLOR_CHOICE,
                p->choice_threshold, 100 * p->choice_x, 100 * p->choice_quality);
    }
    legend(fp, p);
    fputs("</svg>\n", fp);
    return ferror(fp) ? SL_EIO : 0;
}
