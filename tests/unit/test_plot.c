/* Tests for trainer/plot: the SVG has what a reader needs, and escapes what it shows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

static char *render(const struct sl_plot *p)
{
    double score[] = {0.9, 0.7, 0.5, 0.3}, qw[] = {0, 0, 1, 1}, qs[] = {1, 1, 1, 1};
    struct sl_curve c;
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    sl_curve_init(&c);
    cr_assert_eq(sl_curve_exact(&c, score, qw, qs, 4), 0);
    cr_assert_eq(sl_plot_curve_svg(fp, &c, p), 0);
    fclose(fp);
    sl_curve_free(&c);
    return text;
}

Test(plot, draws_axes_curve_diagonal_choice_and_legend)
{
    struct sl_plot p = {.title = "Router <test> & co",
                        .subtitle = "dev split",
                        .have_choice = true,
                        .choice_x = 0.5,
                        .choice_quality = 1.0,
                        .choice_threshold = 0.6,
                        .target_quality = 0.95,
                        .target_share = NAN};
    char *svg = render(&p);

    cr_assert(strncmp(svg, "<?xml", 5) == 0);
    cr_assert_not_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    cr_assert_not_null(strstr(svg, "Router &lt;test&gt; &amp; co"), "the title is escaped");
    cr_assert_not_null(strstr(svg, "<polyline"), "the router's curve");
    cr_assert_not_null(strstr(svg, "stroke-dasharray=\"6,4\""), "the random diagonal");
    cr_assert_not_null(strstr(svg, "<circle"), "the chosen point");
    cr_assert_not_null(strstr(svg, "calls sent to the premium tier"), "x axis label");
    cr_assert_not_null(strstr(svg, "quality (% of premium-only quality)"), "y axis label");
    cr_assert_not_null(strstr(svg, ">50%</text>"), "x ticks");
    cr_assert_not_null(strstr(svg, "random router"), "legend");
    cr_assert_not_null(strstr(svg, "chosen threshold"), "legend");
    cr_assert_not_null(strstr(svg, "target: quality &#8805; 95%"), "the legend names the target");
    cr_assert_not_null(strstr(svg, "threshold 0.6: 50.0% premium, 100.0% quality"));
    cr_assert(strstr(svg, "</svg>\n") != NULL);
    free(svg);
}

Test(plot, leaves_out_the_choice_when_there_is_none)
{
    struct sl_plot p = {.title = "t", .target_quality = NAN, .target_share = NAN};
    char *svg = render(&p);

    cr_assert_null(strstr(svg, "<circle"));
    cr_assert_null(strstr(svg, "target:"));
    free(svg);
}
