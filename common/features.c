/* The router's feature extractor: hashed word and character n-grams plus fixed features. */
#include "features.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing ----------------------------------------------------------------------------- */

#define SEED       UINT64_C(0x736c756963653031) /* "sluice01" */
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325) /* for the spec hash */
#define FNV_PRIME  UINT64_C(0x00000100000001b3)
#define GOLDEN     UINT64_C(0x9e3779b97f4a7c15)
#define KEY_MULT   UINT64_C(0xd6e8feb86659fd93)
#define SLOT_MASK  (SL_FEATURES_HASHED - 1u)

/* The n-gram groups. A hashed entry is kept as one 32-bit key while it is being sorted:
 * slot in bits 0-17, the sign (1 = negative) in bit 18, the group in bits 19-20. */
enum { G_WORD, G_BIGRAM, G_CHAR, G_PUNCT, G_N };
static const char *const group_name[G_N] = {"word unigram", "word bigram", "char affix",
                                            "separator"};
static const float group_weight[G_N] = {1.0f, 0.5f, 0.5f, 0.5f};

static inline uint64_t mix64(uint64_t x)
{
    /* MurmurHash3's fmix64 finaliser. */
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t bigram_of(uint64_t h1, uint64_t h2)
{
    return rotl64(h1, 29) ^ h2;
}

/* Multiplicative hashing: the top bits of the product depend on every bit of x. */
static inline uint32_t key_of(uint64_t x, unsigned group)
{
    uint64_t h = (x ^ SEED ^ GOLDEN * (group + 1)) * KEY_MULT;
    return (uint32_t)(h >> (64 - SL_FEATURES_HASH_BITS)) |
           (uint32_t)(h >> (63 - SL_FEATURES_HASH_BITS) & 1) << 18 | (uint32_t)group << 19;
}

/* The hash of a lowercased token: its bytes in 8-byte big-endian chunks, each mixed into an
 * accumulator, then the 0-7 remaining bytes and the length. The scan computes the same thing
 * byte by byte. */
static uint64_t token_hash(const char *t, size_t len)
{
    uint64_t acc = SEED, chunk = 0;

    for (size_t i = 0; i < len; i++) {
        chunk = chunk << 8 | (unsigned char)t[i];
        if ((i & 7) == 7) {
            acc = mix64(acc ^ chunk);
            chunk = 0;
        }
    }
    return mix64(acc ^ chunk ^ (uint64_t)(len & 0xFF) << 56);
}

/* ---- fixed features ---------------------------------------------------------------------- */

enum fixed {
    F_LEN_TOKENS,
    F_TURNS,
    F_WORD_LEN,
    F_SENTENCES,
    F_NUMBERS,
    F_QUESTION_MARKS,
    F_LINES,
    F_LONGEST_LINE,
    F_MC_OPTIONS,
    F_MC_OPTION_LEN,
    F_MC_OPTION_MAX,
    F_NEGATIONS,
    F_NEGATIONS_CAPS,
    F_ROMAN,
    F_MATH_SYMBOLS,
    F_LATEX,
    F_FRACTIONS,
    F_PERCENT,
    F_UNITS,
    F_STEP_CUES,
    F_QUESTION_WORDS,
    F_INSTRUCTIONS,
    F_CONSTRAINTS,
    F_FORMAT,
    F_CODE_FENCES,
    F_CODE,
    F_UPPER_SHARE,
    F_DIGIT_SHARE,
    F_NON_ASCII,
    F_CJK,
    F_CYRILLIC,
    F_OTHER_SCRIPT,
    F_COUNT
};

static_assert(F_COUNT <= SL_FEATURES_FIXED, "too many fixed features");

static const struct {
    const char *name;
    const char *def;
} fixed_spec[F_COUNT] = {
    [F_LEN_TOKENS] = {"len_tokens", "log1p(tokens)"},
    [F_TURNS] = {"turns", "log1p(max(turns, 1) - 1): messages beyond the first"},
    [F_WORD_LEN] = {"word_len", "min(token bytes / tokens, 40) / 5 (0 without tokens)"},
    [F_SENTENCES] = {"sentences",
                     "log1p(count of '.', '!' or '?' followed by white space or the end of the "
                     "text, except a '.' right after a token that is one uppercase ASCII letter "
                     "(initials, option markers))"},
    [F_NUMBERS] = {"numbers", "log1p(tokens that start with an ASCII digit, except those right "
                              "after <digit>'.' or <digit>',' (1,000.5 is one number))"},
    [F_QUESTION_MARKS] = {"question_marks", "log1p(count of '?')"},
    [F_LINES] = {"lines", "log1p(lines that are not blank)"},
    [F_LONGEST_LINE] = {"longest_line", "log1p(bytes of the longest line) / 2"},
    [F_MC_OPTIONS] = {"mc_options",
                      "log1p(option lines): lines whose first non-blank bytes are an option "
                      "marker, an ASCII letter A-J or a-j followed by '.' or ')', or the same "
                      "letter in parentheses, then a blank or the end of the line"},
    [F_MC_OPTION_LEN] = {"mc_option_len", "log1p(mean bytes of option text after the marker and "
                                          "its blanks, trailing blanks dropped) / 2"},
    [F_MC_OPTION_MAX] = {"mc_option_max", "log1p(bytes of the longest option text) / 2"},
    [F_NEGATIONS] = {"negations", "log1p(tokens in the negation list + bigrams in the negation "
                                  "bigram list)"},
    [F_NEGATIONS_CAPS] = {"negations_caps", "log1p(tokens in the negation list written in "
                                            "uppercase ASCII only, at least 2 letters: NOT, "
                                            "EXCEPT, LEAST...)"},
    [F_ROMAN] = {"roman", "log1p(tokens in the roman list written in uppercase only: II, III...)"},
    [F_MATH_SYMBOLS] = {"math_symbols", "log1p(count of the bytes = + * ^ < > and the code "
                                        "points U+00B1, U+00D7, U+00F7, U+2200-U+22FF)"},
    [F_LATEX] = {"latex", "log1p(count of '\\' followed by an ASCII letter, \"^{\" and \"_{\")"},
    [F_FRACTIONS] = {"fractions", "log1p(count of '/' between two ASCII digits + tokens in the "
                                  "fraction list)"},
    [F_PERCENT] = {"percent", "log1p(count of '%' + tokens in the percent list)"},
    [F_UNITS] = {"units", "log1p(count of '$' + code points U+00A3, U+00A5, U+20AC + tokens in "
                          "the unit list)"},
    [F_STEP_CUES] = {"step_cues", "log1p(tokens in the step list)"},
    [F_QUESTION_WORDS] = {"question_words", "log1p(tokens in the question list)"},
    [F_INSTRUCTIONS] = {"instructions", "log1p(tokens in the instruction list)"},
    [F_CONSTRAINTS] = {"constraints",
                       "log1p(tokens in the constraint list + bigrams in the constraint bigram "
                       "list + tokens in the count-noun list right after a number token)"},
    [F_FORMAT] = {"format", "log1p(tokens in the format list)"},
    [F_CODE_FENCES] = {"code_fences", "log1p(count of \"```\", counted left to right without "
                                      "overlap)"},
    [F_CODE] = {"code", "log1p(tokens in the code list + lines whose last non-blank byte is ';', "
                        "'{' or '}' + count of \"==\", \"!=\", \"->\", \"::\", \"&&\", \"||\")"},
    [F_UPPER_SHARE] = {"upper_share", "uppercase ASCII letters / ASCII letters (0 without)"},
    [F_DIGIT_SHARE] = {"digit_share", "4 * ASCII digits / bytes (0 for an empty text)"},
    [F_NON_ASCII] = {"non_ascii", "bytes >= 0x80 / bytes (0 for an empty text)"},
    [F_CJK] = {"cjk", "code points in U+3040-U+30FF, U+3400-U+4DBF, U+4E00-U+9FFF, U+AC00-U+D7AF "
                      "/ code points that are not ASCII white space"},
    [F_CYRILLIC] = {"cyrillic", "code points in U+0400-U+04FF / code points that are not ASCII "
                                "white space"},
    [F_OTHER_SCRIPT] = {"other_script", "code points in U+0370-U+03FF, U+0590-U+06FF, "
                                        "U+0900-U+097F, U+0E00-U+0E7F / code points that are not "
                                        "ASCII white space"},
};

/* Word lists: a token (lowercased) or a bigram of tokens in a list counts for a feature. */
enum cue {
    CUE_NEG = 1u << 0,
    CUE_ROMAN = 1u << 1,
    CUE_FRACTION = 1u << 2,
    CUE_PERCENT = 1u << 3,
    CUE_UNIT = 1u << 4,
    CUE_STEP = 1u << 5,
    CUE_QUESTION = 1u << 6,
    CUE_INSTRUCT = 1u << 7,
    CUE_CONSTRAINT = 1u << 8,
    CUE_COUNTNOUN = 1u << 9,
    CUE_FORMAT = 1u << 10,
    CUE_CODE = 1u << 11,
    CUE_NEG2 = 1u << 12,        /* bigram */
    CUE_CONSTRAINT2 = 1u << 13, /* bigram */
};

static const struct {
    unsigned cue;
    const char *name;
    const char *words;
} cue_lists[] = {
    {CUE_NEG, "negation", "not no never none nor neither cannot except false incorrect least"},
    {CUE_NEG2, "negation bigram",
     "don_t doesn_t didn_t isn_t aren_t wasn_t weren_t can_t couldn_t won_t wouldn_t shouldn_t "
     "hasn_t haven_t"},
    {CUE_ROMAN, "roman", "ii iii iv vi vii viii"},
    {CUE_FRACTION, "fraction",
     "half halves third thirds quarter quarters fraction fractions ratio"},
    {CUE_PERCENT, "percent", "percent percentage percentages"},
    {CUE_UNIT, "unit",
     "dollar dollars cent cents hour hours minute minutes seconds day days week weeks month "
     "months year years mile miles km kilometers meter meters cm kg kilograms gram grams pound "
     "pounds lb lbs foot feet inch inches liter liters gallon gallons ounce ounces mph degrees "
     "euros"},
    {CUE_STEP, "step",
     "then each every total remaining remain remains left rest per times twice double triple "
     "altogether combined after before more less fewer spent spends spend earns earned earn buys "
     "bought sold sells pays paid costs cost average respectively additional another difference "
     "increase decrease"},
    {CUE_QUESTION, "question", "what which who whom whose when where why how"},
    {CUE_INSTRUCT, "instruction",
     "write explain describe create generate compose develop design draft translate implement "
     "compare analyze analyse summarize summarise rewrite evaluate suggest provide imagine "
     "pretend edit outline identify discuss elaborate craft propose tell give act"},
    {CUE_CONSTRAINT, "constraint",
     "must exactly only ensure without avoid limit maximum minimum strictly required include "
     "within should concise brief"},
    {CUE_CONSTRAINT2, "constraint bigram",
     "at_least at_most no_more no_less up_to do_not must_not"},
    {CUE_COUNTNOUN, "count-noun",
     "words word sentences sentence paragraphs paragraph characters lines points items bullets "
     "syllables stanzas"},
    {CUE_FORMAT, "format",
     "json table tables list bullet bullets markdown csv yaml xml html format formatted numbered "
     "headings"},
    {CUE_CODE, "code",
     "def elif printf println cout endl std void const return import include lambda struct func "
     "nullptr null self python javascript java sql regex bash function code program algorithm "
     "array int bool"},
};

/* An open-addressing table from a word's (or a bigram's) pre-mix hash to its cue bits. */
#define CUE_SLOTS 1024
static struct {
    uint64_t key;
    unsigned cues;
} cue_table[CUE_SLOTS];

/* A 4096-bit filter in front of the table: most tokens are in no list, and answering them
 * from 512 bytes without a dependent probe is what keeps the lookup cheap. */
static uint64_t cue_filter[64];

static void cue_add(uint64_t key, unsigned cue)
{
    size_t i = key & (CUE_SLOTS - 1);

    cue_filter[key >> 58] |= UINT64_C(1) << (key >> 52 & 63);
    while (cue_table[i].cues && cue_table[i].key != key)
        i = (i + 1) & (CUE_SLOTS - 1);
    cue_table[i].key = key;
    cue_table[i].cues |= cue;
}

static inline unsigned cue_get(uint64_t key)
{
    size_t i = key & (CUE_SLOTS - 1);

    if (!(cue_filter[key >> 58] >> (key >> 52 & 63) & 1))
        return 0;
    while (cue_table[i].cues) {
        if (cue_table[i].key == key)
            return cue_table[i].cues;
        i = (i + 1) & (CUE_SLOTS - 1);
    }
    return 0;
}

/* ---- one-time set-up: cue table, log table, the written specification and its hash -------- */

#define LOG_TABLE 64
static double log1p_table[LOG_TABLE];
static char spec_text[16384];
static size_t spec_len;
static char spec_hash_hex[17];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

__attribute__((format(printf, 1, 2))) static void spec_add(const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(spec_text + spec_len, sizeof(spec_text) - spec_len, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof(spec_text) - spec_len);
    spec_len += (size_t)n;
}

static void build_cues(void)
{
    for (size_t l = 0; l < sizeof(cue_lists) / sizeof(*cue_lists); l++) {
        const char *p = cue_lists[l].words;
        while (*p) {
            char w[2][32];
            size_t n = strcspn(p, " "), u = strcspn(p, "_");
            assert(n < sizeof(w[0]));
            if (u < n) { /* a bigram, its two tokens joined by '_' */
                snprintf(w[0], sizeof(w[0]), "%.*s", (int)u, p);
                snprintf(w[1], sizeof(w[1]), "%.*s", (int)(n - u - 1), p + u + 1);
                cue_add(bigram_of(token_hash(w[0], u), token_hash(w[1], n - u - 1)),
                        cue_lists[l].cue);
            } else {
                snprintf(w[0], sizeof(w[0]), "%.*s", (int)n, p);
                cue_add(token_hash(w[0], n), cue_lists[l].cue);
            }
            p += n;
            p += *p == ' ';
        }
    }
}

static void build_spec(void)
{
    spec_add("sluice-features v1\n\n");
    spec_add(
        "Input: the text as bytes (UTF-8 expected, not required) and the number of turns.\n\n");
    spec_add(
        "Tokens: maximal runs of word bytes. Word bytes are ASCII letters and digits and every "
        "byte >= 0x80, except the bytes of these code points, which separate tokens like "
        "ASCII punctuation and white space do: U+00A0, U+2000-U+206F, U+3000-U+303F, "
        "U+FF01-U+FF0F, U+FF1A-U+FF20 (decoded from well-formed 2- and 3-byte UTF-8 "
        "sequences only). ASCII letters are lowercased (A-Z -> a-z); nothing else is "
        "changed. No locale is used.\n\n");
    spec_add("mix(x) = MurmurHash3 fmix64: x ^= x >> 33; x *= 0xff51afd7ed558ccd; x ^= x >> 33; "
             "x *= 0xc4ceb9fe1a85ec53; x ^= x >> 33 (all mod 2^64). seed = 0x%016llx.\n",
             (unsigned long long)SEED);
    spec_add("h(token): the lowercased token bytes b[0..L) are cut into 8-byte chunks; a = seed; "
             "for each whole chunk C (its bytes as a big-endian integer), a = mix(a XOR C); then "
             "h = mix(a XOR R XOR ((L mod 256) << 56)), R = the 0-7 remaining bytes as a "
             "big-endian integer (0 when none).\n");
    spec_add("For an n-gram value x of group g (below), H = (x XOR seed XOR (0x%016llx * (g + 1))) "
             "* 0x%016llx mod 2^64; slot = H >> %u (the top %u bits); sign = -1 when bit %u of H "
             "is set, else +1.\n\n",
             (unsigned long long)GOLDEN, (unsigned long long)KEY_MULT, 64 - SL_FEATURES_HASH_BITS,
             SL_FEATURES_HASH_BITS, 63 - SL_FEATURES_HASH_BITS);
    spec_add("Groups (weight):\n");
    spec_add("  g=0 %s (%.2f): x = h(token), for every token.\n", group_name[G_WORD],
             (double)group_weight[G_WORD]);
    spec_add("  g=1 %s (%.2f): x = rotl64(h(previous token), 29) XOR h(token), for every token "
             "after the first (across punctuation and lines).\n",
             group_name[G_BIGRAM], (double)group_weight[G_BIGRAM]);
    spec_add("  g=2 %s (%.2f): for every token t of L >= 6 bytes (lowercased), two character "
             "n-grams: the 6 bytes '<' t[0..5) and the 5 bytes t[L-4..L) '>'; x = (the bytes as "
             "a big-endian integer) OR (n << 56) for an n-byte gram.\n",
             group_name[G_CHAR], (double)group_weight[G_CHAR]);
    spec_add("  g=3 %s (%.2f): x = the code point, for every separator code point above (not "
             "ASCII punctuation: fixed features count that).\n\n",
             group_name[G_PUNCT], (double)group_weight[G_PUNCT]);
    spec_add("Hashed values: for each slot, group g and sign s, c = the number of n-grams of "
             "group g hashed there with sign s; value(slot) = sum over g, s of s * weight(g) * "
             "log1p(c) (log1p in double, rounded to float). Zero values are dropped. The hashed "
             "part is then divided by its L2 norm (in double) unless it is empty.\n\n");
    spec_add("Fixed features: index %u + i, not normalised, zero values dropped. Lines are split "
             "at '\\n'; a trailing '\\r' and blanks (space, tab) are not counted as a line's "
             "last byte. Shares and logs are computed in double and stored as float.\n",
             SL_FEATURES_HASHED);
    for (unsigned i = 0; i < F_COUNT; i++)
        spec_add("  %2u %-15s %s\n", i, fixed_spec[i].name, fixed_spec[i].def);
    for (unsigned i = F_COUNT; i < SL_FEATURES_FIXED; i++)
        spec_add("  %2u %-15s always 0\n", i, "unused");
    spec_add("\nWord lists (lowercased tokens; a bigram is written token_token):\n");
    for (size_t l = 0; l < sizeof(cue_lists) / sizeof(*cue_lists); l++)
        spec_add("  %s: %s\n", cue_lists[l].name, cue_lists[l].words);
    spec_add("\nOutput: indices unique and ascending.\n");
}

static void init(void)
{
    uint64_t h = FNV_OFFSET;

    build_cues();
    for (unsigned i = 0; i < LOG_TABLE; i++)
        log1p_table[i] = log1p((double)i);
    build_spec();
    for (size_t i = 0; i < spec_len; i++)
        h = (h ^ (unsigned char)spec_text[i]) * FNV_PRIME;
    snprintf(spec_hash_hex, sizeof(spec_hash_hex), "%016llx", (unsigned long long)h);
}

const char *sl_features_spec(void)
{
    pthread_once(&init_once, init);
    return spec_text;
}

const char *sl_features_spec_hash(void)
{
    pthread_once(&init_once, init);
    return spec_hash_hex;
}

const char *sl_features_fixed_name(unsigned i)
{
    if (i < F_COUNT)
        return fixed_spec[i].name;
    return i < SL_FEATURES_FIXED ? "unused" : NULL;
}

/* ---- the vector -------------------------------------------------------------------------- */

void sl_features_init(struct sl_features *f)
{
    f->idx = NULL;
    f->val = NULL;
    f->n = 0;
    f->cap = 0;
}

void sl_features_free(struct sl_features *f)
{
    free(f->idx);
    free(f->val);
    sl_features_init(f);
}

/* The grown capacity for at least need entries; the caller's arrays stay valid on failure. */
static int reserve(struct sl_features *f, size_t need)
{
    size_t cap = f->cap ? f->cap : 256;
    uint32_t *idx;
    float *val;

    if (need <= f->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    idx = realloc(f->idx, cap * sizeof(*idx));
    if (!idx)
        return SL_ENOMEM;
    f->idx = idx;
    val = realloc(f->val, cap * sizeof(*val));
    if (!val)
        return SL_ENOMEM;
    f->val = val;
    f->cap = cap;
    return 0;
}

/* Sorts keys[0..n) by their slot bits: a two-pass LSD radix sort on histograms that the scan
 * filled (hist[0..512) for bits 0-8, hist[512..1024) for bits 9-17); tmp holds n keys. */
static void sort_keys(uint32_t *keys, uint32_t *tmp, size_t n, uint32_t *hist)
{
    uint32_t *lo = hist, *hi = hist + 512, sl = 0, sh = 0;

    if (n < 32) { /* insertion sort: cheaper than two passes for a few keys */
        for (size_t i = 1; i < n; i++) {
            uint32_t k = keys[i];
            size_t j = i;
            for (; j && (keys[j - 1] & SLOT_MASK) > (k & SLOT_MASK); j--)
                keys[j] = keys[j - 1];
            keys[j] = k;
        }
        return;
    }
    for (size_t b = 0; b < 512; b++) {
        uint32_t c = lo[b];
        lo[b] = sl;
        sl += c;
        c = hi[b];
        hi[b] = sh;
        sh += c;
    }
    for (size_t i = 0; i < n; i++)
        tmp[lo[keys[i] & 511]++] = keys[i];
    for (size_t i = 0; i < n; i++)
        keys[hi[(tmp[i] >> 9) & 511]++] = tmp[i];
}

static inline double lg(size_t n)
{
    return n < LOG_TABLE ? log1p_table[n] : log1p((double)n);
}

/* What the scan counts for the fixed features. */
struct counts {
    size_t tokens, token_bytes, sentences, numbers, lines, longest_line;
    size_t options, option_bytes, option_max;
    size_t neg, neg_caps, roman, math, latex, fractions, percent, units, steps, questions;
    size_t instruct, constraints, format, fences, code, upper, letters, digits, non_ascii;
    size_t continuation, cjk, cyrillic, other_script;
    size_t punct[128]; /* ASCII bytes outside tokens, by value */
};

/* Decodes a well-formed 2- or 3-byte UTF-8 sequence at s[0..avail); -1 otherwise (4-byte
 * sequences are not needed: no separator or counted script lies beyond U+FFFF). */
static inline long decode(const unsigned char *s, size_t avail, size_t *used)
{
    long cp;
    if (s[0] >= 0xC2 && s[0] <= 0xDF && avail >= 2 && (s[1] & 0xC0) == 0x80) {
        *used = 2;
        return (long)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    }
    if (s[0] >= 0xE0 && s[0] <= 0xEF && avail >= 3 && (s[1] & 0xC0) == 0x80 &&
        (s[2] & 0xC0) == 0x80) {
        cp = (long)(s[0] & 0x0F) << 12 | (long)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        if (cp >= 0x800) {
            *used = 3;
            return cp;
        }
    }
    return -1;
}

static inline bool is_separator(long cp)
{
    return cp == 0xA0 || (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) ||
           (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20);
}

/* Counts a code point inside a token for the script and symbol features. */
static void count_cp(struct counts *k, long cp)
{
    if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7AF))
        k->cjk++;
    else if (cp >= 0x400 && cp <= 0x4FF)
        k->cyrillic++;
    else if ((cp >= 0x370 && cp <= 0x3FF) || (cp >= 0x590 && cp <= 0x6FF) ||
             (cp >= 0x900 && cp <= 0x97F) || (cp >= 0xE00 && cp <= 0xE7F))
        k->other_script++;
    else if (cp == 0xB1 || cp == 0xD7 || cp == 0xF7 || (cp >= 0x2200 && cp <= 0x22FF))
        k->math++;
    else if (cp == 0xA3 || cp == 0xA5 || cp == 0x20AC)
        k->units++;
}

/* Byte classes. B_UPPER is 2 so that (class & B_UPPER) << 4 is the lowercasing offset. */
enum {
    B_WORD = 1,
    B_UPPER = 2,
    B_LOWER = 4,
    B_DIGIT = 8,
    B_HIGH = 16,
    B_SPACE = 32,
    B_SPECIAL = 64 /* punctuation whose count depends on its neighbours */
};
static const unsigned char byte_class[256] = {
    ['\t'] = B_SPACE, ['\n'] = B_SPACE, ['\v'] = B_SPACE, ['\f'] = B_SPACE, ['\r'] = B_SPACE,
    [' '] = B_SPACE,
#define S(c) [c] = B_SPECIAL
    S('.'),           S('!'),           S('?'),           S('/'),           S('\\'),
    S('^'),           S('_'),           S('`'),           S('='),           S('>'),
    S(':'),           S('&'),           S('|'),
#undef S
#define D(c) [c] = B_WORD | B_DIGIT
    D('0'),           D('1'),           D('2'),           D('3'),           D('4'),
    D('5'),           D('6'),           D('7'),           D('8'),           D('9'),
#undef D
#define U(c) [c] = B_WORD | B_UPPER, [c + 32] = B_WORD | B_LOWER
    U('A'),           U('B'),           U('C'),           U('D'),           U('E'),
    U('F'),           U('G'),           U('H'),           U('I'),           U('J'),
    U('K'),           U('L'),           U('M'),           U('N'),           U('O'),
    U('P'),           U('Q'),           U('R'),           U('S'),           U('T'),
    U('U'),           U('V'),           U('W'),           U('X'),           U('Y'),
    U('Z'),
#undef U
#define H4(c)                                                                                      \
    [c] = B_WORD | B_HIGH, [c + 1] = B_WORD | B_HIGH, [c + 2] = B_WORD | B_HIGH,                   \
    [c + 3] = B_WORD | B_HIGH
#define H16(c) H4(c), H4(c + 4), H4(c + 8), H4(c + 12)
    H16(0x80),        H16(0x90),        H16(0xA0),        H16(0xB0),        H16(0xC0),
    H16(0xD0),        H16(0xE0),        H16(0xF0),
#undef H16
#undef H4
};

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* The per-line counts: lines, the longest line, option lines, code-like line ends. */
static void scan_lines(const unsigned char *s, size_t len, struct counts *k)
{
    const unsigned char *p = s, *end = s + len;

    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *e = nl ? nl : end, *a = p, *b = e;
        size_t n = (size_t)(e - p);

        if (n > k->longest_line)
            k->longest_line = n;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        if (a < b) {
            const unsigned char *m = a;
            bool paren = *m == '(';
            k->lines++;
            if (b[-1] == ';' || b[-1] == '{' || b[-1] == '}')
                k->code++;
            m += paren;
            if (m < b && ((*m >= 'A' && *m <= 'J') || (*m >= 'a' && *m <= 'j')) && m + 1 < b &&
                (paren ? m[1] == ')' : (m[1] == '.' || m[1] == ')')) &&
                (m + 2 >= b || m[2] == ' ' || m[2] == '\t')) {
                size_t t;
                m += 2;
                while (m < b && (*m == ' ' || *m == '\t'))
                    m++;
                t = (size_t)(b - m);
                k->options++;
                k->option_bytes += t;
                if (t > k->option_max)
                    k->option_max = t;
            }
        }
        if (!nl)
            break;
        p = nl + 1;
    }
}

/* A token's cue-list hits. */
static void count_cues(struct counts *k, unsigned cues, bool caps, bool after_number)
{
    k->neg += !!(cues & (CUE_NEG | CUE_NEG2));
    k->neg_caps += (cues & CUE_NEG) && caps;
    k->roman += (cues & CUE_ROMAN) && caps;
    k->fractions += !!(cues & CUE_FRACTION);
    k->percent += !!(cues & CUE_PERCENT);
    k->units += !!(cues & CUE_UNIT);
    k->steps += !!(cues & CUE_STEP);
    k->questions += !!(cues & CUE_QUESTION);
    k->instruct += !!(cues & CUE_INSTRUCT);
    k->constraints += !!(cues & (CUE_CONSTRAINT | CUE_CONSTRAINT2));
    k->constraints += (cues & CUE_COUNTNOUN) && after_number;
    k->format += !!(cues & CUE_FORMAT);
    k->code += !!(cues & CUE_CODE);
}

/* Punctuation whose count depends on its neighbours; returns the bytes it consumed. */
static size_t count_special(const unsigned char *s, size_t len, size_t i, struct counts *k,
                            bool after_initial)
{
    unsigned char c = s[i], next = i + 1 < len ? s[i + 1] : 0;

    switch (c) {
    case '.':
    case '!':
    case '?':
        if ((i + 1 == len || (byte_class[next] & B_SPACE)) && !(c == '.' && after_initial))
            k->sentences++;
        if (c == '!' && next == '=')
            k->code++;
        break;
    case '=':
        if (next == '=') {
            k->code++;
            k->math += 2;
            return 2;
        }
        k->math++;
        break;
    case '>':
        k->math++;
        k->code += i && s[i - 1] == '-';
        break;
    case '^':
        k->math++;
        k->latex += next == '{';
        break;
    case '_':
        k->latex += next == '{';
        break;
    case '\\':
        k->latex += (byte_class[next] & (B_UPPER | B_LOWER)) != 0;
        break;
    case '/':
        k->fractions += i && is_digit(s[i - 1]) && is_digit(next);
        break;
    case '`':
        if (next == '`' && i + 2 < len && s[i + 2] == '`') {
            k->fences++;
            return 3;
        }
        break;
    default: /* ':', '&', '|' */
        if (next == c) {
            k->code++;
            return 2;
        }
        break;
    }
    return 1;
}

/* Appends a hashed key to keys[0..n) and counts it in the sort's histograms; jumps to oom
 * when the arrays cannot grow. A macro so that the scan's state stays in registers. */
#define EMIT(v, g)                                                                                 \
    do {                                                                                           \
        uint32_t key_ = key_of((v), (g));                                                          \
        if (n == cap) {                                                                            \
            if (reserve(f, n + 1))                                                                 \
                goto oom;                                                                          \
            keys = f->idx;                                                                         \
            cap = f->cap;                                                                          \
        }                                                                                          \
        keys[n++] = key_;                                                                          \
        hist[key_ & 511]++;                                                                        \
        hist[512 + ((key_ >> 9) & 511)]++;                                                         \
    } while (0)

/* The lowercased byte string '<' t[0..5) of a token t at s, as a big-endian integer. */
static inline uint64_t prefix_gram(const unsigned char *s)
{
    uint64_t x = '<';
    for (int j = 0; j < 5; j++)
        x = x << 8 | (s[j] | (unsigned)(byte_class[s[j]] & B_UPPER) << 4);
    return x;
}

/* One pass over the text: tokens and their hashed n-grams into f->idx (the count is
 * returned in *nkeys), and the counts for the fixed features. SL_ENOMEM only. */
static int scan(struct sl_features *f, const unsigned char *s, size_t len, struct counts *k,
                uint32_t *hist, size_t *nkeys)
{
    uint32_t *keys = f->idx;
    size_t n = 0, cap = f->cap, i = 0, last_end = SIZE_MAX, used;
    uint64_t prev_h = 0;
    bool has_prev = false, prev_number = false, last_initial = false;
    long cp;

    while (i < len) {
        unsigned char c = s[i];
        unsigned cls = byte_class[c];
        uint64_t h, acc = SEED, win = 0;
        size_t start = i, nb, upper = 0, lower = 0, digits = 0;
        unsigned cues;

        if (!(cls & B_WORD)) {
            k->punct[c]++;
            i += (cls & B_SPECIAL) ? count_special(s, len, i, k, last_initial && last_end == i) : 1;
            continue;
        }
        if (c >= 0xC0 && (cp = decode(s + i, len - i, &used)) >= 0 && is_separator(cp)) {
            k->non_ascii += used;
            k->continuation += used - 1;
            EMIT((uint64_t)cp, G_PUNCT);
            i += used;
            continue;
        }
        do {
            if (cls & B_HIGH) {
                k->non_ascii++;
                if (c < 0xC0) {
                    k->continuation++;
                } else if ((cp = decode(s + i, len - i, &used)) >= 0) {
                    if (is_separator(cp))
                        break;
                    count_cp(k, cp);
                }
            }
            c |= (unsigned char)((cls & B_UPPER) << 4);
            upper += (cls >> 1) & 1;
            lower += (cls >> 2) & 1;
            digits += (cls >> 3) & 1;
            win = win << 8 | c;
            if (((++i - start) & 7) == 0) {
                acc = mix64(acc ^ win);
                win = 0;
            }
            if (i == len)
                break;
            c = s[i];
            cls = byte_class[c];
        } while (cls & B_WORD);
        nb = i - start;
        h = mix64(acc ^ win ^ (uint64_t)(nb & 0xFF) << 56);

        EMIT(h, G_WORD);
        cues = cue_get(h);
        if (has_prev) {
            uint64_t bi = bigram_of(prev_h, h);
            EMIT(bi, G_BIGRAM);
            cues |= cue_get(bi);
        }
        if (nb >= 6) {
            uint64_t suffix = 0;
            for (size_t j = i - 4; j < i; j++)
                suffix = suffix << 8 | (s[j] | (unsigned)(byte_class[s[j]] & B_UPPER) << 4);
            EMIT(prefix_gram(s + start) | (uint64_t)6 << 56, G_CHAR);
            EMIT((suffix << 8 | '>') | (uint64_t)5 << 56, G_CHAR);
        }
        if (cues)
            count_cues(k, cues, upper >= 2 && !lower, prev_number);
        prev_h = h;
        has_prev = true;
        k->tokens++;
        k->token_bytes += nb;
        k->upper += upper;
        k->letters += upper + lower;
        k->digits += digits;
        prev_number = is_digit(s[start]);
        if (prev_number &&
            !(start >= 2 && (s[start - 1] == '.' || s[start - 1] == ',') && is_digit(s[start - 2])))
            k->numbers++;
        last_initial = nb == 1 && upper == 1;
        last_end = i;
    }
    *nkeys = n;
    return 0;
oom:
    return SL_ENOMEM;
}

static void fixed_values(const struct counts *k, size_t len, int turns, double *v)
{
    const size_t *p = k->punct;
    size_t space = p[' '] + p['\t'] + p['\n'] + p['\r'] + p['\v'] + p['\f'];
    size_t cps = len - k->continuation - space;
    double per_cp = cps ? 1.0 / (double)cps : 0;

    v[F_LEN_TOKENS] = lg(k->tokens);
    v[F_TURNS] = lg(turns > 1 ? (size_t)turns - 1 : 0);
    if (k->tokens) {
        double m = (double)k->token_bytes / (double)k->tokens;
        v[F_WORD_LEN] = (m < 40 ? m : 40) / 5;
    }
    v[F_SENTENCES] = lg(k->sentences);
    v[F_NUMBERS] = lg(k->numbers);
    v[F_QUESTION_MARKS] = lg(p['?']);
    v[F_LINES] = lg(k->lines);
    v[F_LONGEST_LINE] = lg(k->longest_line) / 2;
    v[F_MC_OPTIONS] = lg(k->options);
    if (k->options) {
        v[F_MC_OPTION_LEN] = log1p((double)k->option_bytes / (double)k->options) / 2;
        v[F_MC_OPTION_MAX] = lg(k->option_max) / 2;
    }
    v[F_NEGATIONS] = lg(k->neg);
    v[F_NEGATIONS_CAPS] = lg(k->neg_caps);
    v[F_ROMAN] = lg(k->roman);
    v[F_MATH_SYMBOLS] = lg(k->math + p['+'] + p['*'] + p['<']);
    v[F_LATEX] = lg(k->latex);
    v[F_FRACTIONS] = lg(k->fractions);
    v[F_PERCENT] = lg(k->percent + p['%']);
    v[F_UNITS] = lg(k->units + p['$']);
    v[F_STEP_CUES] = lg(k->steps);
    v[F_QUESTION_WORDS] = lg(k->questions);
    v[F_INSTRUCTIONS] = lg(k->instruct);
    v[F_CONSTRAINTS] = lg(k->constraints);
    v[F_FORMAT] = lg(k->format);
    v[F_CODE_FENCES] = lg(k->fences);
    v[F_CODE] = lg(k->code);
    if (k->letters)
        v[F_UPPER_SHARE] = (double)k->upper / (double)k->letters;
    if (len) {
        v[F_DIGIT_SHARE] = 4.0 * (double)k->digits / (double)len;
        v[F_NON_ASCII] = (double)k->non_ascii / (double)len;
    }
    v[F_CJK] = (double)k->cjk * per_cp;
    v[F_CYRILLIC] = (double)k->cyrillic * per_cp;
    v[F_OTHER_SCRIPT] = (double)k->other_script * per_cp;
}

int sl_features_extract(struct sl_features *f, const char *text, size_t len, int turns)
{
    struct counts k;
    uint32_t hist[1024];
    double fixed[SL_FEATURES_FIXED] = {0}, norm = 0;
    float unit[2 * G_N];
    size_t m = 0, out = 0;
    uint32_t *keys;

    pthread_once(&init_once, init);
    f->n = 0;
    memset(&k, 0, sizeof(k));
    memset(hist, 0, sizeof(hist));
    /* A first guess that fits ordinary prose (under 0.6 keys a byte) without growing. */
    if (reserve(f, len / 4 * 3 + 64) || scan(f, (const unsigned char *)text, len, &k, hist, &m) ||
        reserve(f, m + SL_FEATURES_FIXED))
        return SL_ENOMEM;
    scan_lines((const unsigned char *)text, len, &k);
    keys = f->idx;
    /* f->val is free until the merge and has room for m keys: the sort's scratch space. (The
     * memory is malloc'ed, so storing uint32_t into it and later float is well defined.) */
    sort_keys(keys, (uint32_t *)(void *)f->val, m, hist);

    for (unsigned gs = 0; gs < 2 * G_N; gs++)
        unit[gs] = (gs & 1 ? -1 : 1) * group_weight[gs >> 1] * (float)log1p_table[1];
    for (size_t i = 0; i < m;) {
        uint32_t key = keys[i], slot = key & SLOT_MASK;
        size_t j = i + 1;
        float v;

        while (j < m && keys[j] == key)
            j++;
        if (j == m || (keys[j] & SLOT_MASK) != slot) { /* one group and sign: the usual case */
            v = j - i == 1 ? unit[key >> 18]
                           : (key >> 18 & 1 ? -1 : 1) * group_weight[key >> 19] * (float)lg(j - i);
        } else {
            unsigned cnt[2 * G_N] = {0};
            double sum = 0;
            cnt[key >> 18] += (unsigned)(j - i);
            for (; j < m && (keys[j] & SLOT_MASK) == slot; j++)
                cnt[keys[j] >> 18]++;
            for (unsigned g = 0; g < G_N; g++)
                sum += (double)group_weight[g] *
                       ((double)(float)lg(cnt[2 * g]) - (double)(float)lg(cnt[2 * g + 1]));
            v = (float)sum;
        }
        /* Reads of keys[i..j) are done; out <= i, so these writes never overtake them. */
        if (v != 0) {
            f->idx[out] = slot;
            f->val[out++] = v;
            norm += (double)v * v;
        }
        i = j;
    }
    if (norm > 0) {
        double scale = 1.0 / sqrt(norm);
        for (size_t i = 0; i < out; i++)
            f->val[i] = (float)(f->val[i] * scale);
    }
    fixed_values(&k, len, turns, fixed);
    for (unsigned i = 0; i < SL_FEATURES_FIXED; i++) {
        if (fixed[i] != 0) {
            f->idx[out] = SL_FEATURES_HASHED + i;
            f->val[out++] = (float)fixed[i];
        }
    }
    f->n = out;
    return 0;
}

/* ---- messages ---------------------------------------------------------------------------- */

static const char *const messages_names[] = {
    [SL_MESSAGES_LAST_USER] = "last_user",
    [SL_MESSAGES_SYSTEM_LAST] = "system_last",
    [SL_MESSAGES_ALL] = "all",
};

int sl_features_messages_parse(const char *s, enum sl_features_messages *out)
{
    for (unsigned i = 0; s && i < sizeof(messages_names) / sizeof(*messages_names); i++) {
        if (!strcmp(s, messages_names[i])) {
            *out = (enum sl_features_messages)i;
            return 0;
        }
    }
    return SL_EINVAL;
}

const char *sl_features_messages_name(enum sl_features_messages m)
{
    return (unsigned)m < sizeof(messages_names) / sizeof(*messages_names) ? messages_names[m]
                                                                          : "unknown";
}

static bool role_is(const cJSON *msg, const char *role)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(msg, "role");
    return cJSON_IsString(r) && !strcmp(r->valuestring, role);
}

/* The text being gathered: pieces joined by '\n'. With out NULL it is only measured. */
struct gather {
    char *out;
    size_t len, pieces;
};

static void add_piece(struct gather *g, const char *text)
{
    size_t n = strlen(text);

    if (g->pieces++) {
        if (g->out)
            g->out[g->len] = '\n';
        g->len++;
    }
    if (g->out)
        memcpy(g->out + g->len, text, n);
    g->len += n;
}

/* A message's text: string content, or the "text" of each part of type "text". */
static void add_content(struct gather *g, const cJSON *msg)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content"), *part;

    if (cJSON_IsString(content)) {
        add_piece(g, content->valuestring);
        return;
    }
    if (!cJSON_IsArray(content))
        return;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(type) && !strcmp(type->valuestring, "text") && cJSON_IsString(text))
            add_piece(g, text->valuestring);
    }
}

static void gather(struct gather *g, const cJSON *messages, enum sl_features_messages which)
{
    const cJSON *msg, *last_user = NULL;

    cJSON_ArrayForEach(msg, messages)
    {
        if (which == SL_MESSAGES_ALL)
            add_content(g, msg);
        else if (role_is(msg, "user"))
            last_user = msg;
    }
    if (which == SL_MESSAGES_SYSTEM_LAST) {
        cJSON_ArrayForEach(msg, messages)
        {
            if (role_is(msg, "system") || role_is(msg, "developer"))
                add_content(g, msg);
        }
    }
    if (last_user)
        add_content(g, last_user);
}

int sl_features_from_messages(struct sl_features *f, const cJSON *messages,
                              enum sl_features_messages which, char **buf, size_t *bufcap)
{
    struct gather g = {0};

    if (!cJSON_IsArray(messages))
        return SL_EINVAL;
    gather(&g, messages, which);
    if (g.len + 1 > *bufcap || !*buf) {
        char *p = realloc(*buf, g.len + 1);
        if (!p)
            return SL_ENOMEM;
        *buf = p;
        *bufcap = g.len + 1;
    }
    g = (struct gather){.out = *buf};
    gather(&g, messages, which);
    g.out[g.len] = '\0';
    return sl_features_extract(f, g.out, g.len, cJSON_GetArraySize(messages));
}
