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

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- hashing ----------------------------------------------------------------------------- */

#define SEED       UINT64_C(0x736c756963653031) /* "sluice01" */
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325) /* for the spec hash */
#define FNV_PRIME  UINT64_C(0x00000100000001b3)
#define GOLDEN     UINT64_C(0x9e3779b97f4a7c15)
#define KEY_MULT   UINT64_C(0xd6e8feb86659fd93)
#define SLOT_MASK  (SL_FEATURES_HASHED - 1u)
/* A multiple-choice prompt's n-grams go to slot XOR MC_FLIP (see "Prompt kind" in the spec). */
#define MC_FLIP (uint32_t)(GOLDEN >> (64 - SL_FEATURES_HASH_BITS))

/* The n-gram groups. A hashed entry is kept as one 32-bit key while it is being sorted: the
 * group in bits 0-1, the sign (1 = negative) in bit 2 and the slot in bits 3-20 (bits 45 and
 * 46-63 of H, so one shift places both). */
enum { G_WORD, G_BIGRAM, G_CHAR, G_PUNCT, G_N };
#define KEY_SLOT_BITS (SLOT_MASK << 3)
#define KEY_SLOT(k)   ((k) >> 3)
#define KEY_GS(k)     ((k)&7) /* sign * 4 + group */
static_assert(G_N == 4, "the key holds the group in 2 bits");
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
    return (uint32_t)(h >> (63 - SL_FEATURES_HASH_BITS)) << 2 | group;
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

/* A two-choice (cuckoo) table from a word's (or a bigram's) pre-mix hash to its cue bits. A
 * lookup reads the key's two slots and nothing else, without a branch: list words are common
 * in prompts (what, each, then, write), and a probe loop is mispredicted on them. */
#define CUE_SLOTS 1024
static uint64_t cue_key[CUE_SLOTS];
static uint16_t cue_bits[CUE_SLOTS]; /* 0: the slot is empty */

static_assert(CUE_CONSTRAINT2 <= 0x8000, "every cue bit must fit in cue_bits");

/* A 16384-bit filter in front of the table: most tokens are in no list, and one bit answers
 * them (about 1 in 60 wrongly, for the 270 list entries). */
static uint64_t cue_filter[256];

static inline bool cue_maybe(uint64_t key)
{
    return cue_filter[key >> 56] >> (key >> 50 & 63) & 1;
}

static inline size_t cue_slot(uint64_t key, unsigned which)
{
    return (size_t)(which ? key >> 32 : key) & (CUE_SLOTS - 1);
}

static void cue_add(uint64_t key, unsigned cue)
{
    size_t i = cue_slot(key, 0);
    unsigned bits = cue;

    cue_filter[key >> 56] |= UINT64_C(1) << (key >> 50 & 63);
    for (unsigned w = 0; w < 2; w++) {
        size_t j = cue_slot(key, w);
        if (cue_bits[j] && cue_key[j] == key) {
            cue_bits[j] |= (uint16_t)cue;
            return;
        }
    }
    if (cue_bits[i])
        i = cue_slot(key, 1);
    /* Cuckoo insertion: a resident is moved to its other slot until one is free. The lists
     * fill about a quarter of the table, so this ends within a few moves. */
    for (int moves = 0; moves < CUE_SLOTS; moves++) {
        uint64_t k = cue_key[i];
        unsigned c = cue_bits[i];
        cue_key[i] = key;
        cue_bits[i] = (uint16_t)bits;
        if (!c)
            return;
        key = k;
        bits = c;
        i = i == cue_slot(key, 0) ? cue_slot(key, 1) : cue_slot(key, 0);
    }
    assert(!"cue table too full");
    abort();
}

/* The cue bits of key, 0 when it is in no list. */
static inline unsigned cue_get(uint64_t key)
{
    size_t i = cue_slot(key, 0), j = cue_slot(key, 1);

    /* Masks rather than "?:", which GCC compiles to branches here. */
    return (cue_bits[i] & -(unsigned)(cue_key[i] == key)) |
           (cue_bits[j] & -(unsigned)(cue_key[j] == key));
}

/* ---- one-time set-up: cue table, log table, the written specification and its hash -------- */

#define LOG_TABLE 256
static double log1p_table[LOG_TABLE];
static float log1pf_table[LOG_TABLE]; /* (float)log1p_table[i]: the hashed values' counts */
/* A hashed key's sign times its group's weight, by KEY_GS(key). */
static float signed_weight[2 * G_N];
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
    spec_add("sluice-features v2\n\n");
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
    spec_add("Prompt kind: a text with at least one option line (fixed feature mc_options > 0) "
             "is multiple-choice, and each of its n-grams goes to slot XOR 0x%05x instead: the "
             "same words tell different things in a multiple-choice question and in an open "
             "one, so each kind has weights of its own.\n\n",
             (unsigned)MC_FLIP);
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
    for (unsigned i = 0; i < LOG_TABLE; i++) {
        log1p_table[i] = log1p((double)i);
        log1pf_table[i] = (float)log1p_table[i];
    }
    for (unsigned gs = 0; gs < 2 * G_N; gs++)
        signed_weight[gs] = (float)(gs & 4 ? -1 : 1) * group_weight[gs & 3];
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

/* Sorts keys[0..n) by their slot bits, keeping the order of equal slots (the merge only needs
 * each slot's keys together): a two-pass LSD radix sort on 9 bits at a time, which for the few
 * hundred to few thousand keys of a prompt costs far less than a comparison sort; tmp holds n
 * keys. */
static void sort_keys(uint32_t *keys, uint32_t *tmp, size_t n)
{
    uint32_t hist[1024] = {0}, *lo = hist, *hi = hist + 512, sl = 0, sh = 0;

    if (n < 32) { /* insertion sort: cheaper than two passes for a few keys */
        for (size_t i = 1; i < n; i++) {
            uint32_t k = keys[i];
            size_t j = i;
            for (; j && KEY_SLOT(keys[j - 1]) > KEY_SLOT(k); j--)
                keys[j] = keys[j - 1];
            keys[j] = k;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        lo[(keys[i] >> 3) & 511]++;
        hi[keys[i] >> 12]++;
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
        tmp[lo[(keys[i] >> 3) & 511]++] = keys[i];
    for (size_t i = 0; i < n; i++)
        keys[hi[tmp[i] >> 12]++] = tmp[i];
}

static inline double lg(size_t n)
{
    return n < LOG_TABLE ? log1p_table[n] : log1p((double)n);
}

/* (float)lg(n), the logarithm in a hashed value. */
static inline float log1pf_of(size_t n)
{
    return n < LOG_TABLE ? log1pf_table[n] : (float)log1p((double)n);
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

/* ---- the scan ----------------------------------------------------------------------------
 * The text is classified 64 bytes at a time into bit masks, and tokens are read off the word
 * mask: a token's end is found with one bit operation instead of a data-dependent branch per
 * byte, whose mispredictions (one or more per token) were most of the old byte loop's time.
 * The same pass writes a lowercased copy of the text, from which a token is hashed 8 bytes at a
 * time. Only the bytes between tokens (mostly one space) and the lead bytes of non-ASCII
 * characters are still visited one by one. Keys are sorted afterwards (sort_keys) and merged
 * into (slot, value) pairs without a branch per key (merge). */

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the chunk loads assume little-endian");

/* Bit i of each mask describes byte i of a 64-byte block. */
struct block {
    uint64_t word;   /* ASCII letters and digits, bytes >= 0x80 */
    uint64_t upper;  /* A-Z */
    uint64_t letter; /* A-Z, a-z */
    uint64_t digit;  /* 0-9 */
    uint64_t high;   /* >= 0x80 */
    uint64_t cont;   /* 0x80-0xBF, UTF-8 continuation bytes */
};

#if defined(__SSE2__)
/* 0xFF in each byte of x that is in [lo, lo + n), else 0. SSE2 compares bytes as signed, so
 * x - lo is moved by 0x80 to compare as unsigned. */
static inline __m128i in_range(__m128i x, unsigned char lo, unsigned char n)
{
    __m128i t = _mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - lo)));
    return _mm_cmplt_epi8(t, _mm_set1_epi8((char)(0x80 + n)));
}

static inline uint64_t bits_of(__m128i m, unsigned at)
{
    return (uint64_t)(unsigned)_mm_movemask_epi8(m) << at;
}

/* The masks of p[0..64), and the bytes with A-Z lowercased into lower[0..64). */
static void classify(const unsigned char *p, struct block *b, unsigned char *lower)
{
    memset(b, 0, sizeof(*b));
    for (unsigned j = 0; j < 64; j += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + j));
        __m128i upper = in_range(x, 'A', 26);
        _mm_storeu_si128((__m128i *)(void *)(lower + j),
                         _mm_or_si128(x, _mm_and_si128(upper, _mm_set1_epi8(0x20))));
        b->upper |= bits_of(upper, j);
        b->letter |= bits_of(in_range(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 26), j);
        b->digit |= bits_of(in_range(x, '0', 10), j);
        b->high |= bits_of(x, j);
        b->cont |= bits_of(in_range(x, 0x80, 0x40), j);
    }
    b->word = b->letter | b->digit | b->high;
}
#else
static void classify(const unsigned char *p, struct block *b, unsigned char *lower)
{
    memset(b, 0, sizeof(*b));
    for (unsigned j = 0; j < 64; j++) {
        unsigned c = p[j], cls = byte_class[c];
        lower[j] = (unsigned char)(c | (cls & B_UPPER) << 4);
        b->word |= (uint64_t)(cls & B_WORD) << j;
        b->upper |= (uint64_t)((cls & B_UPPER) != 0) << j;
        b->letter |= (uint64_t)((cls & (B_UPPER | B_LOWER)) != 0) << j;
        b->digit |= (uint64_t)((cls & B_DIGIT) != 0) << j;
        b->high |= (uint64_t)(c >= 0x80) << j;
        b->cont |= (uint64_t)(c >= 0x80 && c < 0xC0) << j;
    }
}
#endif

static inline unsigned popcount64(uint64_t x)
{
    /* The portable build has no POPCNT instruction, and the libgcc call is slower than this. */
    x -= x >> 1 & UINT64_C(0x5555555555555555);
    x = (x & UINT64_C(0x3333333333333333)) + (x >> 2 & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
    return (unsigned)(x * UINT64_C(0x0101010101010101) >> 56);
}

/* Whether t[0..n) has two or more uppercase ASCII letters and no lowercase one (NOT, II). */
static bool all_caps(const unsigned char *t, size_t n)
{
    size_t upper = 0;

    for (size_t i = 0; i < n; i++) {
        if (byte_class[t[i]] & B_LOWER)
            return false;
        upper += (byte_class[t[i]] & B_UPPER) != 0;
    }
    return upper >= 2;
}

/* The scan's state: inlined into scan(), so that it lives in registers. Keys are appended to
 * keys[0..n); the array has room for len + 2 (see sl_features_extract), as token() writes two
 * keys past n before it knows whether to keep them. */
struct scan {
    const unsigned char *s;
    const unsigned char *lw; /* s lowercased (A-Z), with 8 readable bytes before and after */
    size_t len;
    uint32_t *keys;
    size_t n;
    size_t tokens, numbers;
    struct counts *k;
    uint64_t prev_h;   /* the previous token's hash, for the bigram */
    bool has_prev;     /* a token was seen */
    bool prev_number;  /* the previous token starts with a digit */
    bool prev_initial; /* the previous token is one uppercase letter (an initial) */
};

/* The token s[st..en): its n-gram keys, cue lists, the numbers count. Straight-line code for
 * the usual token (under 8 bytes, in no word list): a branch on its length or its digits would
 * be mispredicted for a good share of tokens. */
static inline void token(struct scan *sc, size_t st, size_t en)
{
    const unsigned char *lw = sc->lw, *t = lw + st;
    size_t nb = en - st, rest = nb, at = st;
    uint64_t first, x, acc = SEED, h, bi;
    uint32_t last4;
    unsigned char c = t[0], p1 = t[-1], p2 = t[-2]; /* lw has 8 bytes before the text */
    bool digit = is_digit(c);

    memcpy(&first, t, 8);
    x = first;
    /* h(token) as the spec defines it: whole 8-byte chunks big-endian into acc, then the 0-7
     * bytes left (shifted in two steps, so that none left gives 0) and the length. */
    while (rest >= 8) {
        acc = mix64(acc ^ __builtin_bswap64(x));
        rest -= 8;
        at += 8;
        memcpy(&x, lw + at, 8);
    }
    h = mix64(acc ^ (__builtin_bswap64(x) >> (63 - 8 * rest) >> 1) ^ (uint64_t)(nb & 0xFF) << 56);
    bi = bigram_of(sc->prev_h, h);
    sc->keys[sc->n] = key_of(h, G_WORD);
    sc->keys[sc->n + 1] = key_of(bi, G_BIGRAM);
    sc->n += 1 + sc->has_prev;

    /* The affixes '<' t[0..5) and t[L-4..L) '>', kept for tokens of 6 bytes or more. */
    memcpy(&last4, lw + en - 4, 4); /* (lw + en) - 4: lw has 8 bytes before the text */
    sc->keys[sc->n] =
        key_of((uint64_t)6 << 56 | (uint64_t)'<' << 40 | __builtin_bswap64(first) >> 24, G_CHAR);
    sc->keys[sc->n + 1] =
        key_of((uint64_t)5 << 56 | (uint64_t)__builtin_bswap32(last4) << 8 | '>', G_CHAR);
    sc->n += nb >= 6 ? 2 : 0;

    if (cue_maybe(h) | (sc->has_prev & cue_maybe(bi))) { /* one branch for both, rarely taken */
        unsigned cues = cue_get(h) | (cue_get(bi) & -(unsigned)sc->has_prev);
        if (cues)
            count_cues(sc->k, cues, all_caps(sc->s + st, nb), sc->prev_number);
    }
    /* A number unless it continues one: <digit>'.' or <digit>',' before it (1,000.5). */
    sc->numbers += digit & (((p1 != '.') & (p1 != ',')) | !is_digit(p2));
    sc->prev_number = digit;
    sc->prev_initial = (nb == 1) & ((byte_class[sc->s[st]] & B_UPPER) != 0);
    sc->prev_h = h;
    sc->has_prev = true;
    sc->tokens++;
}

/* The bytes s[i..end) between two tokens: ASCII punctuation and white space, and the bytes of
 * separator code points, which utf8_block has counted already. after_initial: the previous
 * token, which ends at i, is an initial. */
static void gap(const unsigned char *s, size_t len, size_t i, size_t end, struct counts *k,
                bool after_initial)
{
    size_t start = i;

    while (i < end) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            i++;
            continue;
        }
        k->punct[c]++;
        /* count_special consumes only repeats of c, so it never runs into the next token */
        i += byte_class[c] & B_SPECIAL ? count_special(s, len, i, k, after_initial && i == start)
                                       : 1;
    }
}

/* The non-ASCII bytes of the block at base: counts them, decodes each lead byte, counts scripts
 * and symbols, and turns separator code points into keys (appended to keys; returns how many)
 * and out of the word mask. carry: the previous block's last byte is in a token. *spill gets
 * the bits of the next block that a separator here reaches into. */
static size_t utf8_block(const unsigned char *s, size_t len, size_t base, struct block *b,
                         uint64_t carry, uint32_t *keys, struct counts *k, uint64_t *spill)
{
    size_t n = 0;

    *spill = 0;
    k->non_ascii += popcount64(b->high);
    k->continuation += popcount64(b->cont);
    for (uint64_t leads = b->high & ~b->cont; leads; leads &= leads - 1) {
        unsigned j = (unsigned)__builtin_ctzll(leads);
        size_t used;
        long cp = decode(s + base + j, len - base - j, &used);
        uint64_t bytes;

        if (cp < 0)
            continue;
        if (!is_separator(cp)) {
            count_cp(k, cp);
            continue;
        }
        /* The extractor that trained the first models counted the lead byte of a separator
         * that ends a token twice in non_ascii (once in the token, once as the separator);
         * kept, as every model's non_ascii weight was fitted on it. */
        k->non_ascii += j ? b->word >> (j - 1) & 1 : carry;
        bytes = (UINT64_C(1) << used) - 1;
        b->word &= ~(bytes << j);
        if (j + used > 64)
            *spill = bytes >> (64 - j);
        keys[n++] = key_of((uint64_t)cp, G_PUNCT);
    }
    return n;
}

/* One pass over the text: tokens and their keys into keys (returns how many), and the counts
 * for the fixed features except the per-line ones. scratch: room for len + 80 bytes, for the
 * lowercased text. */
static size_t scan(uint32_t *keys, const unsigned char *s, size_t len, struct counts *k,
                   unsigned char *scratch)
{
    struct scan sc = {.s = s, .lw = scratch + 8, .len = len, .keys = keys, .k = k};
    size_t start = 0, gap_start = 0;
    uint64_t carry = 0, spill = 0;
    bool in_token = false;

    /* Up to and including the block that holds byte len, so that the last token's end is an
     * edge too (when len is a multiple of 64 that block is empty). */
    for (size_t base = 0; base <= len; base += 64) {
        struct block b;
        uint64_t edges;

        if (len - base >= 64) {
            classify(s + base, &b, scratch + 8 + base);
        } else {
            unsigned char tail[64] = {0}; /* zero bytes are in no mask */
            if (len > base)
                memcpy(tail, s + base, len - base);
            classify(tail, &b, scratch + 8 + base);
        }
        b.word &= ~spill;
        spill = 0;
        if (b.high)
            sc.n += utf8_block(s, len, base, &b, carry, keys + sc.n, k, &spill);
        k->upper += popcount64(b.upper);
        k->letters += popcount64(b.letter);
        k->digits += popcount64(b.digit);
        k->token_bytes += popcount64(b.word);
        /* A bit of edges at every byte where a token starts or ends; tokens may cross blocks,
         * and starts and ends alternate. */
        edges = b.word ^ (b.word << 1 | carry);
        carry = b.word >> 63;
        for (; edges; edges &= edges - 1) {
            size_t at = base + (size_t)__builtin_ctzll(edges);
            if (in_token) {
                token(&sc, start, at);
                gap_start = at;
            } else {
                gap(s, len, gap_start, at, k, sc.prev_initial);
                start = at;
            }
            in_token = !in_token;
        }
    }
    gap(s, len, gap_start, len, k, sc.prev_initial);
    k->tokens = sc.tokens;
    k->numbers = sc.numbers;
    return sc.n;
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

/* The value of a slot that holds keys of several groups or signs (a hash collision): run keys
 * equal to key, then the rest of the slot's keys, rest[0..n). Summed as the spec says. */
static float mixed_value(uint32_t key, size_t run, const uint32_t *rest, size_t n)
{
    unsigned cnt[2 * G_N] = {0};
    double sum = 0;

    cnt[KEY_GS(key)] += (unsigned)run;
    for (size_t i = 0; i < n; i++)
        cnt[KEY_GS(rest[i])]++;
    for (unsigned g = 0; g < G_N; g++)
        sum +=
            (double)group_weight[g] * ((double)log1pf_of(cnt[g]) - (double)log1pf_of(cnt[4 + g]));
    return (float)sum;
}

/* Turns the m sorted keys in keys[0..m] (one spare entry) into slots in keys[0..out) and their
 * values in val[0..out), and the sum of the squared values into *norm; returns out. A run of
 * equal keys gives one slot, in the usual case where its slot holds nothing else, without a
 * branch on the run's length: every key writes the value of the run so far, and only a run's
 * last key moves out on. */
static size_t merge(uint32_t *keys, float *val, size_t m, double *norm)
{
    static const double zero_one[2] = {0, 1};
    size_t out = 0, run = 1;
    double sum = 0;

    if (m == 0)
        return 0;
    keys[m] = keys[m - 1] ^ 8; /* a sentinel in another slot ends the last run */
    for (size_t i = 0; i < m; i++) {
        uint32_t key = keys[i], next = keys[i + 1], d = key ^ next;
        float v;

        /* key != next in the same slot, tested as one rarely true condition: written as
         * "key != next && ..." the compiler branches on key != next, which no predictor can
         * guess (a third of the keys repeat). */
        if (((d & KEY_SLOT_BITS) | (d == 0)) == 0) { /* see mixed_value */
            size_t to = i + 1;
            while (to < m && !((keys[to] ^ key) & KEY_SLOT_BITS))
                to++;
            /* This is the slot's first run end, so nothing of it was written yet; keys[i + 1..]
             * are still unread (out <= i). */
            v = mixed_value(key, run, keys + i + 1, to - i - 1);
            keys[out] = KEY_SLOT(key);
            val[out] = v;
            out += v != 0;
            sum += (double)v * v;
            i = to - 1;
            run = 1;
            continue;
        }
        v = signed_weight[KEY_GS(key)] * log1pf_of(run);
        keys[out] = KEY_SLOT(key); /* out <= i: never a key still to be read */
        val[out] = v;
        out += d != 0;
        run = (run & -(size_t)(d == 0)) + 1; /* d ? 1 : run + 1, as a mask: no branch */
        /* The spec's norm is a double sum in slot order. Adding +0 for the keys that do not
         * end a run leaves it bit for bit the same, and the additions' latency then overlaps
         * the loop's other work instead of making a pass of its own. (A multiplication by a
         * table entry, as GCC turns "* (d != 0)" into a branch.) */
        sum += (double)v * v * zero_one[d != 0];
    }
    *norm = sum;
    return out;
}

int sl_features_extract(struct sl_features *f, const char *text, size_t len, int turns)
{
    struct counts k;
    double fixed[SL_FEATURES_FIXED] = {0}, norm = 0;
    size_t m, out;

    pthread_once(&init_once, init);
    f->n = 0;
    /* Every key owns a byte of the text that no other key owns: a token's first byte (word),
     * the byte before it (bigram: tokens never touch), its second and third bytes (affixes) and
     * a separator's first byte (it has 2 or 3). So len keys, the scan's two provisional writes,
     * the merge's sentinel and the fixed features always fit, and nothing grows mid-scan. */
    if (len > SIZE_MAX / 2 / sizeof(*f->idx) - 64 || reserve(f, len + 4 + SL_FEATURES_FIXED))
        return SL_ENOMEM;
    memset(&k, 0, sizeof(k));
    /* f->val is free until the sort: the scan keeps the lowercased text there. Zeroed first, as
     * a token's 8-byte loads read a few bytes past its end, which must be defined even though
     * they do not count (and the 8 bytes before the text read as 0). */
    memset(f->val, 0, len + 80);
    m = scan(f->idx, (const unsigned char *)text, len, &k, (unsigned char *)(void *)f->val);
    scan_lines((const unsigned char *)text, len, &k);
    if (k.options)
        for (size_t i = 0; i < m; i++)
            f->idx[i] ^= MC_FLIP << 3;
    /* f->val is free until the merge and has room for m keys: the sort's scratch space. (The
     * memory is malloc'ed, so storing uint32_t into it and later float is well defined.) */
    sort_keys(f->idx, (uint32_t *)(void *)f->val, m);
    out = merge(f->idx, f->val, m, &norm);
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
