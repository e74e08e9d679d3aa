/* Option parsing for every sluice-trainer command (getopt_long), and the dispatch. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare.h"
#include "evaluate.h"
#include "export.h"
#include "labels.h"
#include "thresholds.h"
#include "timing.h"
#include "train.h"

#define EXIT_USAGE 2
#define EXIT_WORSE 3 /* compare: the new model is worse */
#define MAX_DATA   64
#define MAX_GRID   64

static const char usage_text[] =
    "usage: sluice-trainer COMMAND [OPTIONS]\n"
    "\n"
    "Labelled rows come from JSONL files (--data FILE) or from the evaluator's eval.db\n"
    "(--eval-db PATH: its shadow verdicts, split 80/10/10 into train/dev/test by request id).\n"
    "\n"
    "  fit (--data FILE | --eval-db PATH)... --out MODEL.json\n"
    "      [--messages last_user|system_last|all] [--lambda X | --lambdas \"a,b,c\"] [--cv K]\n"
    "      [--class-weight none|balanced] [--source NAME] [--max-iter N] [--tol X]\n"
    "      [--select auc|logloss] [--target label|gain] [--threads N] [--quiet]\n"
    "      Fits the router on the training rows (split \"train\", or every row of a file without\n"
    "      splits), chooses lambda on the dev rows or by K-fold cross-validation (default 5),\n"
    "      refits at the chosen lambda and writes the model artifact. --data and --eval-db\n"
    "      may be mixed: the rows of every file and database are used. --target gain fits the\n"
    "      premium tier's expected gain in quality, (1 + strong - weak) / 2, rather than the\n"
    "      label; it needs both tiers' scores on every training and dev row (an eval.db's\n"
    "      verdicts give them), and lambda is then chosen by log-loss unless --select says\n"
    "      otherwise.\n"
    "  eval --model MODEL.json (--data FILE | --eval-db PATH) [--split train|dev|test|all]\n"
    "      [--source NAME] [--price-weak P --price-strong P] [--json]\n"
    "      AUC, log-loss, calibration and, for rows with both models' scores, APGR, CPT(50%),\n"
    "      CPT(80%) and the saving at 95% quality per source, beside random and category-prior\n"
    "      routers. Default split: test.\n"
    "  compare --model NEW.json --baseline CURRENT.json (--data FILE | --eval-db PATH)...\n"
    "      [--split train|dev|test|all] [--source NAME] [--tolerance X] [--json]\n"
    "      Evaluates both models on the same rows (default split: test) and prints their AUC,\n"
    "      log-loss and, for rows with both tiers' scores, APGR side by side. The new model is\n"
    "      not worse when its AUC, and its APGR when both have one, are at least the baseline's\n"
    "      minus X (default 0). Exit status 0 when it is not worse, 3 when it is worse.\n"
    "  thresholds --model MODEL.json (--data FILE | --eval-db PATH) [--split dev|test|...]\n"
    "      [--source NAME] (--min-quality Q | --max-premium-share S) [--csv FILE]\n"
    "      [--svg FILE] [--write]\n"
    "      Chooses the threshold meeting the target; --write stores it in the artifact.\n"
    "      Default split: dev.\n"
    "  export (--data FILE | --eval-db PATH) --split S --out FILE.svm [--messages ...]\n"
    "      [--source NAME]\n"
    "      The features in svmlight format, 1-based indices.\n"
    "  labels --eval-db PATH --out FILE.jsonl\n"
    "      The eval.db labels as a JSONL dataset (id, messages, label, category = route,\n"
    "      split) that --data reads back as the same rows.\n"
    "  time-score --model MODEL.json [--n N]\n"
    "      p50 and p99 of feature extraction + scoring for 200 B, 2 KB and 20 KB prompts.\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 bad usage or bad input data, 3 (compare) the new\n"
    "model is worse.\n";

static int usage_error(FILE *err, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int usage_error(FILE *err, const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(err, "sluice-trainer %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fprintf(err, "\n(sluice-trainer --help for usage)\n");
    return EXIT_USAGE;
}

static int parse_double(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' && isfinite(*out) ? 0 : SL_EINVAL;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && *out >= lo && *out <= hi ? 0 : SL_EINVAL;
}

static int parse_grid(const char *s, double *grid, size_t *n)
{
    char *copy = strdup(s), *save = NULL, *tok;
    int rc = 0;

    if (!copy)
        return SL_ENOMEM;
    *n = 0;
    for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (*n == MAX_GRID || parse_double(tok, &grid[*n]) != 0 || grid[*n] <= 0) {
            rc = SL_EINVAL;
            break;
        }
        (*n)++;
    }
    free(copy);
    return rc == 0 && *n == 0 ? SL_EINVAL : rc;
}

/* Split names on the command line: the dataset's three, or "all". */
static int parse_split(const char *s, enum sl_split *split, bool *all)
{
    *all = strcmp(s, "all") == 0;
    return *all ? 0 : sl_dataset_split_parse(s, split);
}

/* The exit status for a module's error: bad input data or unusable arguments are usage-class
 * errors (2), the rest failures (1). */
static int status_of(int rc)
{
    return rc == 0 ? 0 : rc == SL_EPARSE || rc == SL_EINVAL ? EXIT_USAGE : 1;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 4 ? 4 : (int)n;
}

enum {
    OPT_DATA = 256,
    OPT_OUT,
    OPT_MESSAGES,
    OPT_LAMBDA,
    OPT_LAMBDAS,
    OPT_CV,
    OPT_CLASS_WEIGHT,
    OPT_SOURCE,
    OPT_MAX_ITER,
    OPT_TOL,
    OPT_SELECT,
    OPT_THREADS,
    OPT_QUIET,
    OPT_MODEL,
    OPT_SPLIT,
    OPT_PRICE_WEAK,
    OPT_PRICE_STRONG,
    OPT_JSON,
    OPT_MIN_QUALITY,
    OPT_MAX_SHARE,
    OPT_CSV,
    OPT_SVG,
    OPT_WRITE,
    OPT_N,
    OPT_EVAL_DB,
    OPT_BASELINE,
    OPT_TOLERANCE,
    OPT_TARGET,
};

/* Every option of every command; each command accepts its own subset. */
static const struct option options[] = {
    {"data", required_argument, NULL, OPT_DATA},
    {"out", required_argument, NULL, OPT_OUT},
    {"messages", required_argument, NULL, OPT_MESSAGES},
    {"lambda", required_argument, NULL, OPT_LAMBDA},
    {"lambdas", required_argument, NULL, OPT_LAMBDAS},
    {"cv", required_argument, NULL, OPT_CV},
    {"class-weight", required_argument, NULL, OPT_CLASS_WEIGHT},
    {"target", required_argument, NULL, OPT_TARGET},
    {"source", required_argument, NULL, OPT_SOURCE},
    {"max-iter", required_argument, NULL, OPT_MAX_ITER},
    {"tol", required_argument, NULL, OPT_TOL},
    {"select", required_argument, NULL, OPT_SELECT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"model", required_argument, NULL, OPT_MODEL},
    {"split", required_argument, NULL, OPT_SPLIT},
    {"price-weak", required_argument, NULL, OPT_PRICE_WEAK},
    {"price-strong", required_argument, NULL, OPT_PRICE_STRONG},
    {"json", no_argument, NULL, OPT_JSON},
    {"min-quality", required_argument, NULL, OPT_MIN_QUALITY},
    {"max-premium-share", required_argument, NULL, OPT_MAX_SHARE},
    {"csv", required_argument, NULL, OPT_CSV},
    {"svg", required_argument, NULL, OPT_SVG},
    {"write", no_argument, NULL, OPT_WRITE},
    {"n", required_argument, NULL, OPT_N},
    {"eval-db", required_argument, NULL, OPT_EVAL_DB},
    {"baseline", required_argument, NULL, OPT_BASELINE},
    {"tolerance", required_argument, NULL, OPT_TOLERANCE},
    {NULL, 0, NULL, 0},
};

static const char *option_name(int id)
{
    for (const struct option *o = options; o->name; o++)
        if (o->val == id)
            return o->name;
    return "?";
}

/* Options shared by the commands, filled as they come; each command checks its own. */
struct args {
    const char *data[MAX_DATA];
    size_t n_data;
    const char *eval_db[MAX_DATA];
    size_t n_eval_db;
    const char *out, *model, *baseline, *source, *csv, *svg, *split;
    const char *messages, *class_weight, *select, *target;
    double grid[MAX_GRID];
    size_t n_grid;
    bool have_lambda;
    long cv, max_iter, threads, n;
    bool cv_set;
    double tol, price_weak, price_strong, min_quality, max_share, tolerance;
    bool quiet, json, write;
};

/* Parses argv for command cmd, accepting only the option ids in allowed (0-terminated). */
static int parse(int argc, char **argv, const char *cmd, const int *allowed, struct args *a,
                 FILE *err)
{
    char flag[64];
    int c;

    memset(a, 0, sizeof(*a));
    a->cv = 5;
    a->max_iter = 1000;
    a->threads = default_threads();
    a->n = 20000;
    a->tol = 1e-5;
    a->price_weak = a->price_strong = a->min_quality = a->max_share = NAN;
    optind = 0; /* GNU: restart scanning, so that tests may call sl_cli_main repeatedly */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        const char *v = optarg;
        bool ok = false;

        if (c == 'h') {
            fputs(usage_text, err);
            return EXIT_USAGE;
        }
        if (c == '?' || c == ':') {
            return usage_error(err, cmd, "unknown option or missing value: %s", argv[optind - 1]);
        }
        for (const int *p = allowed; *p; p++)
            ok |= *p == c;
        snprintf(flag, sizeof(flag), "--%s", option_name(c));
        if (!ok)
            return usage_error(err, cmd, "%s is not an option of this command", flag);
        int bad = 0;
        switch (c) {
        case OPT_DATA:
            if (a->n_data == MAX_DATA)
                return usage_error(err, cmd, "too many %s", flag);
            a->data[a->n_data++] = v;
            break;
        case OPT_EVAL_DB:
            if (a->n_eval_db == MAX_DATA)
                return usage_error(err, cmd, "too many %s", flag);
            a->eval_db[a->n_eval_db++] = v;
            break;
        case OPT_OUT:
            a->out = v;
            break;
        case OPT_MODEL:
            a->model = v;
            break;
        case OPT_BASELINE:
            a->baseline = v;
            break;
        case OPT_SOURCE:
            a->source = v;
            break;
        case OPT_CSV:
            a->csv = v;
            break;
        case OPT_SVG:
            a->svg = v;
            break;
        case OPT_SPLIT:
            a->split = v;
            break;
        case OPT_MESSAGES:
            a->messages = v;
            break;
        case OPT_CLASS_WEIGHT:
            a->class_weight = v;
            break;
        case OPT_TARGET:
            a->target = v;
            break;
        case OPT_SELECT:
            a->select = v;
            break;
        case OPT_LAMBDA:
            if (a->have_lambda)
                return usage_error(err, cmd, "%s", "give one of --lambda and --lambdas, once");
            bad = parse_double(v, &a->grid[0]) != 0 || a->grid[0] <= 0;
            a->n_grid = 1;
            a->have_lambda = true;
            break;
        case OPT_LAMBDAS:
            if (a->have_lambda)
                return usage_error(err, cmd, "%s", "give one of --lambda and --lambdas, once");
            bad = parse_grid(v, a->grid, &a->n_grid) != 0;
            a->have_lambda = true;
            break;
        case OPT_CV:
            bad = parse_long(v, 2, 100, &a->cv) != 0;
            a->cv_set = true;
            break;
        case OPT_MAX_ITER:
            bad = parse_long(v, 1, 100000000, &a->max_iter) != 0;
            break;
        case OPT_THREADS:
            bad = parse_long(v, 1, 16, &a->threads) != 0;
            break;
        case OPT_N:
            bad = parse_long(v, 1, 100000000, &a->n) != 0;
            break;
        case OPT_TOL:
            bad = parse_double(v, &a->tol) != 0 || a->tol <= 0;
            break;
        case OPT_PRICE_WEAK:
            bad = parse_double(v, &a->price_weak) != 0 || a->price_weak < 0;
            break;
        case OPT_PRICE_STRONG:
            bad = parse_double(v, &a->price_strong) != 0 || a->price_strong <= 0;
            break;
        case OPT_MIN_QUALITY:
            bad = parse_double(v, &a->min_quality) != 0 || a->min_quality <= 0;
            break;
        case OPT_TOLERANCE:
            bad = parse_double(v, &a->tolerance) != 0 || a->tolerance < 0 || a->tolerance > 1;
            break;
        case OPT_MAX_SHARE:
            bad = parse_double(v, &a->max_share) != 0 || a->max_share < 0 || a->max_share > 1;
            break;
        case OPT_QUIET:
            a->quiet = true;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_WRITE:
            a->write = true;
            break;
        }
        if (bad)
            return usage_error(err, cmd, "bad value for the option before it: %s", v);
    }
    if (optind < argc)
        return usage_error(err, cmd, "unexpected argument: %s", argv[optind]);
    return 0;
}

static int need(FILE *err, const char *cmd, const void *value, const char *flag)
{
    return value ? 0 : usage_error(err, cmd, "%s is required", flag);
}

/* For the commands that read one dataset: exactly one --data FILE or --eval-db PATH. */
static int one_dataset(FILE *err, const char *cmd, const struct args *a, const char **path,
                       bool *eval_db)
{
    if (a->n_data + a->n_eval_db == 0)
        return usage_error(err, cmd, "%s", "--data or --eval-db is required");
    if (a->n_data + a->n_eval_db > 1)
        return usage_error(err, cmd, "%s", "give one --data file or one --eval-db");
    *eval_db = a->n_eval_db == 1;
    *path = *eval_db ? a->eval_db[0] : a->data[0];
    return 0;
}

static int cmd_fit(int argc, char **argv, FILE *out, FILE *err)
{
    static const int allowed[] = {OPT_DATA,    OPT_EVAL_DB,  OPT_OUT,    OPT_MESSAGES,
                                  OPT_LAMBDA,  OPT_LAMBDAS,  OPT_CV,     OPT_CLASS_WEIGHT,
                                  OPT_SOURCE,  OPT_MAX_ITER, OPT_TOL,    OPT_SELECT,
                                  OPT_THREADS, OPT_QUIET,    OPT_TARGET, 0};
    struct sl_train_config cfg;
    struct args a;
    int rc;

    if ((rc = parse(argc, argv, "fit", allowed, &a, err)) != 0)
        return rc;
    if (a.n_data + a.n_eval_db == 0)
        return usage_error(err, "fit", "%s", "--data or --eval-db is required");
    if ((rc = need(err, "fit", a.out, "--out")) != 0)
        return rc;
    sl_train_config_default(&cfg);
    cfg.data = a.data;
    cfg.n_data = a.n_data;
    cfg.eval_dbs = a.eval_db;
    cfg.n_eval_dbs = a.n_eval_db;
    cfg.out = a.out;
    cfg.source = a.source;
    if (a.messages && sl_features_messages_parse(a.messages, &cfg.messages) != 0)
        return usage_error(err, "fit", "--messages: %s is not last_user, system_last or all",
                           a.messages);
    if (a.class_weight && sl_fit_weights_parse(a.class_weight, &cfg.weights) != 0)
        return usage_error(err, "fit", "--class-weight: %s is not none or balanced",
                           a.class_weight);
    if (a.target && sl_dataset_target_parse(a.target, &cfg.target) != 0)
        return usage_error(err, "fit", "--target: %s is not label or gain", a.target);
    /* AUC ranks by the label, which a gain model is not fitted to: it is chosen by log-loss
     * against its own targets unless told otherwise. */
    if (!a.select && cfg.target == SL_TARGET_GAIN)
        cfg.by = SL_TUNE_LOGLOSS;
    if (a.select && sl_tune_by_parse(a.select, &cfg.by) != 0)
        return usage_error(err, "fit", "--select: %s is not auc or logloss", a.select);
    if (a.have_lambda) {
        cfg.lambdas = a.grid;
        cfg.n_lambdas = a.n_grid;
    }
    cfg.folds = (int)a.cv;
    cfg.folds_set = a.cv_set;
    cfg.fit.max_iter = (int)a.max_iter;
    cfg.fit.tol = a.tol;
    cfg.fit.progress = !a.quiet;
    cfg.threads = (int)a.threads;
    return status_of(sl_train_run(&cfg, NULL, out, err));
}

static int cmd_eval(int argc, char **argv, FILE *out, FILE *err)
{
    static const int allowed[] = {OPT_MODEL,        OPT_DATA,   OPT_EVAL_DB,
                                  OPT_SPLIT,        OPT_SOURCE, OPT_PRICE_WEAK,
                                  OPT_PRICE_STRONG, OPT_JSON,   0};
    struct sl_evaluate_config cfg;
    struct args a;
    int rc;

    if ((rc = parse(argc, argv, "eval", allowed, &a, err)) != 0)
        return rc;
    sl_evaluate_config_default(&cfg);
    if ((rc = need(err, "eval", a.model, "--model")) != 0 ||
        (rc = one_dataset(err, "eval", &a, &cfg.data, &cfg.eval_db)) != 0)
        return rc;
    if (isnan(a.price_weak) != isnan(a.price_strong))
        return usage_error(err, "eval", "%s", "give both --price-weak and --price-strong");
    cfg.model = a.model;
    cfg.source = a.source;
    cfg.price_weak = a.price_weak;
    cfg.price_strong = a.price_strong;
    cfg.json = a.json;
    if (a.split && parse_split(a.split, &cfg.split, &cfg.all_rows) != 0)
        return usage_error(err, "eval", "--split: %s is not train, dev, test or all", a.split);
    return status_of(sl_evaluate_run(&cfg, out, err));
}

static int cmd_compare(int argc, char **argv, FILE *out, FILE *err)
{
    static const int allowed[] = {OPT_MODEL,     OPT_BASELINE, OPT_DATA,
                                  OPT_EVAL_DB,   OPT_SPLIT,    OPT_SOURCE,
                                  OPT_TOLERANCE, OPT_JSON,     0};
    struct sl_compare_config cfg;
    struct args a;
    bool not_worse;
    int rc;

    if ((rc = parse(argc, argv, "compare", allowed, &a, err)) != 0)
        return rc;
    if ((rc = need(err, "compare", a.model, "--model")) != 0 ||
        (rc = need(err, "compare", a.baseline, "--baseline")) != 0)
        return rc;
    if (a.n_data + a.n_eval_db == 0)
        return usage_error(err, "compare", "%s", "--data or --eval-db is required");
    sl_compare_config_default(&cfg);
    cfg.model = a.model;
    cfg.baseline = a.baseline;
    cfg.data = a.data;
    cfg.n_data = a.n_data;
    cfg.eval_dbs = a.eval_db;
    cfg.n_eval_dbs = a.n_eval_db;
    cfg.source = a.source;
    cfg.tolerance = a.tolerance;
    cfg.json = a.json;
    if (a.split && parse_split(a.split, &cfg.split, &cfg.all_rows) != 0)
        return usage_error(err, "compare", "--split: %s is not train, dev, test or all", a.split);
    if ((rc = sl_compare_run(&cfg, &not_worse, out, err)) != 0)
        return status_of(rc);
    return not_worse ? 0 : EXIT_WORSE;
}

static int cmd_thresholds(int argc, char **argv, FILE *out, FILE *err)
{
    static const int allowed[] = {
        OPT_MODEL,     OPT_DATA, OPT_EVAL_DB, OPT_SPLIT, OPT_SOURCE, OPT_MIN_QUALITY,
        OPT_MAX_SHARE, OPT_CSV,  OPT_SVG,     OPT_WRITE, 0};
    struct sl_thresholds_config cfg = {0};
    struct args a;
    int rc;

    if ((rc = parse(argc, argv, "thresholds", allowed, &a, err)) != 0)
        return rc;
    if ((rc = need(err, "thresholds", a.model, "--model")) != 0 ||
        (rc = one_dataset(err, "thresholds", &a, &cfg.data, &cfg.eval_db)) != 0)
        return rc;
    if (isnan(a.min_quality) == isnan(a.max_share))
        return usage_error(err, "thresholds", "%s",
                           "give exactly one of --min-quality and --max-premium-share");
    cfg.model = a.model;
    cfg.source = a.source;
    cfg.split = SL_SPLIT_DEV;
    if (a.split && parse_split(a.split, &cfg.split, &cfg.all_rows) != 0)
        return usage_error(err, "thresholds", "--split: %s is not train, dev, test or all",
                           a.split);
    cfg.target = isnan(a.min_quality) ? SL_THRESHOLDS_MAX_PREMIUM_SHARE : SL_THRESHOLDS_MIN_QUALITY;
    cfg.value = isnan(a.min_quality) ? a.max_share : a.min_quality;
    cfg.csv = a.csv;
    cfg.svg = a.svg;
    cfg.write = a.write;
    return status_of(sl_thresholds_run(&cfg, out, err));
}

static int cmd_export(int argc, char **argv, FILE *out, FILE *err)
{
    static const int allowed[] = {OPT_DATA,     OPT_EVAL_DB, OPT_SPLIT, OPT_OUT,
                                  OPT_MESSAGES, OPT_SOURCE,  0};
    struct sl_export_config cfg = {0};
    struct args a;
    int rc;

    if ((rc = parse(argc, argv, "export", allowed, &a, err)) != 0)
        return rc;
    if ((rc = one_dataset(err, "export", &a, &cfg.data, &cfg.eval_db)) != 0 ||
        (rc = need(err, "export", a.split, "--split")) != 0 ||
        (rc = need(err, "export", a.out, "--out")) != 0)
        return rc;
    cfg.out = a.out;
    cfg.source = a.source;
    cfg.messages = SL_MESSAGES_LAST_USER;
    if (parse_split(a.split, &cfg.split, &cfg.all_rows) != 0)
        return usage_error(err, "export", "--split: %s is not train, dev, test or all", a.split);
    if (a.messages && sl_features_messages_parse(a.messages, &cfg.messages) != 0)
        return usage_error(err, "export", "--messages: %s is not last_user, system_last or all",
                           a.messages);
    return status_of(sl_export_run(&cfg, out, err));
}

static int cmd_labels(int argc, char **argv, FILE *out, FILE *err)
{
    static const int allowed[] = {OPT_EVAL_DB, OPT_OUT, 0};
    struct sl_labels_config cfg = {0};
    struct args a;
    int rc;

    if ((rc = parse(argc, argv, "labels", allowed, &a, err)) != 0)
        return rc;
    if ((rc = need(err, "labels", a.n_eval_db ? a.eval_db[0] : NULL, "--eval-db")) != 0 ||
        (rc = need(err, "labels", a.out, "--out")) != 0)
        return rc;
    if (a.n_eval_db > 1)
        return usage_error(err, "labels", "%s", "give one --eval-db");
    cfg.eval_db = a.eval_db[0];
    cfg.out = a.out;
    return status_of(sl_labels_run(&cfg, out, err));
}

static int cmd_time_score(int argc, char **argv, FILE *out, FILE *err)
{
    static const int allowed[] = {OPT_MODEL, OPT_N, 0};
    struct args a;
    int rc;

    if ((rc = parse(argc, argv, "time-score", allowed, &a, err)) != 0)
        return rc;
    if ((rc = need(err, "time-score", a.model, "--model")) != 0)
        return rc;
    return status_of(sl_timing_run(a.model, (size_t)a.n, out, err));
}

int sl_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct {
        const char *name;
        int (*run)(int, char **, FILE *, FILE *);
    } commands[] = {
        {"fit", cmd_fit},
        {"eval", cmd_eval},
        {"compare", cmd_compare},
        {"thresholds", cmd_thresholds},
        {"export", cmd_export},
        {"labels", cmd_labels},
        {"time-score", cmd_time_score},
    };

    if (argc < 2) {
        fputs(usage_text, err);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, out);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1, out, err);
    fprintf(err, "sluice-trainer: unknown command \"%s\"\n(sluice-trainer --help for usage)\n",
            argv[1]);
    return EXIT_USAGE;
}
