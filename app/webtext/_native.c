/* Compiled versions of per-record text steps of ingestion, each equal to a pure Python definition that stays
 * in app/webtext (the fallback when this module is not built, and the reference its tests compare with).
 * They read Python strings as code points: no decoding, no locale. Python uses the module through
 * app/webtext/native.py, which checks VERSION. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Strings made by Python 3.12 and later are always ready to be read by code point. */
static inline int ensure_ready(PyObject *text)
{
#if PY_VERSION_HEX < 0x030C0000
    return PyUnicode_READY(text);
#else
    (void)text;
    return 0;
#endif
}

static inline int is_dropped_control(Py_UCS4 c)
{
    /* NUL and other C0 controls but tab, newline and carriage return (handled as a line end), and DEL. */
    return c <= 0x08 || (c >= 0x0b && c <= 0x1f && c != 0x0d) || c == 0x7f;
}

/* pipeline.clean_text_in_python: line ends unified (CRLF and CR become LF), controls dropped, lone surrogates replaced
 * by U+FFFD, each line stripped of trailing whitespace, runs of blank lines collapsed to one, then the whole
 * text stripped. Returns the argument itself when nothing changes. */
static PyObject *clean_text(PyObject *module, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "clean_text() argument must be str");
        return NULL;
    }
    if (ensure_ready(arg) < 0) {
        return NULL;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    Py_UCS4 *out = PyMem_Malloc((length ? length : 1) * sizeof(Py_UCS4));
    if (out == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t size = 0, line_start = 0;
    int substituted = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '\r') {
            if (i + 1 < length && PyUnicode_READ(kind, data, i + 1) == '\n') {
                continue; /* the LF that follows ends the line */
            }
            c = '\n';
            substituted = 1;
        }
        if (c == '\n') {
            while (size > line_start && Py_UNICODE_ISSPACE(out[size - 1])) {
                size--;
            }
            /* A third line end in a row would make a second blank line. */
            if (!(size >= 2 && out[size - 1] == '\n' && out[size - 2] == '\n')) {
                out[size++] = '\n';
            }
            line_start = size;
            continue;
        }
        if (is_dropped_control(c)) {
            continue;
        }
        if (c >= 0xd800 && c <= 0xdfff) {
            c = 0xfffd;
            substituted = 1;
        }
        out[size++] = c;
    }
    while (size > line_start && Py_UNICODE_ISSPACE(out[size - 1])) {
        size--;
    }
    /* The whole text stripped: the last line is already, but line ends and blank lines may precede it. */
    while (size > 0 && Py_UNICODE_ISSPACE(out[size - 1])) {
        size--;
    }
    Py_ssize_t first = 0;
    while (first < size && Py_UNICODE_ISSPACE(out[first])) {
        first++;
    }
    PyObject *result;
    if (first == 0 && size == length && !substituted) {
        Py_INCREF(arg);
        result = arg;
    }
    else {
        result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out + first, size - first);
    }
    PyMem_Free(out);
    return result;
}

/* A table of hash_normalization's, as a read-only buffer of `count` items of `itemsize` bytes. */
typedef struct {
    Py_buffer view;
    Py_ssize_t count;
} Table;

static int get_table(PyObject *object, Py_ssize_t itemsize, Table *table, const char *name)
{
    if (PyObject_GetBuffer(object, &table->view, PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    if (table->view.len % itemsize) {
        PyErr_Format(PyExc_ValueError, "%s must hold items of %zd bytes", name, itemsize);
        PyBuffer_Release(&table->view);
        return -1;
    }
    table->count = table->view.len / itemsize;
    return 0;
}

#define SHINGLE_SIZE 5
#define SPACE 0x20
#define EXPANDS 0xFFFFFFFEu
#define GENERAL 0xFFFFFFFFu

typedef struct {
    const uint32_t *direct, *start, *atoms;
    const uint8_t *length, *cjk;
    Py_ssize_t size, atom_count, cjk_count;
    uint32_t multipliers[SHINGLE_SIZE + 1], salt;
    int shift; /* bins by shifting when num_perm is a power of two, else -1 */
} Tables;

static inline int is_cjk(const Tables *t, uint32_t code)
{
    return t->cjk[code < (uint32_t)t->cjk_count ? code : (uint32_t)(t->cjk_count - 1)];
}

/* normalized_codes of a text's code points into `out`, which has room for at least `length` of them and is
 * grown as expansions need. Returns how many, 0 with *general set for a text that needs the general path, or
 * -1 on an error. One loop per width of Python's string storage, so the loop does not branch on it. */
#define NORMALIZE_LOOP(CHAR_TYPE)                                                                                  \
    for (Py_ssize_t i = 0; i < length; i++) {                                                                      \
        Py_UCS4 c = ((const CHAR_TYPE *)data)[i];                                                                  \
        Py_ssize_t index = c < (Py_UCS4)t->size ? (Py_ssize_t)c : t->size - 1;                                    \
        uint32_t direct = t->direct[index];                                                                        \
        if (direct < EXPANDS) {                                                                                    \
            /* A run of spaces collapses to its first. */                                                          \
            if (!(direct == SPACE && n && out[n - 1] == SPACE)) {                                                  \
                out[n++] = direct;                                                                                 \
            }                                                                                                      \
            continue;                                                                                              \
        }                                                                                                          \
        if (direct == GENERAL) {                                                                                   \
            *general = 1;                                                                                          \
            return 0;                                                                                              \
        }                                                                                                          \
        uint32_t first = t->start[index], count = t->length[index];                                               \
        if ((Py_ssize_t)first + count > t->atom_count) {                                                          \
            PyErr_SetString(PyExc_ValueError, "the normalization table points past its atoms");                   \
            return -1;                                                                                             \
        }                                                                                                          \
        /* Room for this expansion and one code point for each character still to come. */                       \
        if (n + (Py_ssize_t)count + (length - i) > *capacity) {                                                   \
            Py_ssize_t grown = (n + count + (length - i)) * 2;                                                    \
            uint32_t *bigger = PyMem_Realloc(out, grown * sizeof(uint32_t));                                      \
            if (bigger == NULL) {                                                                                  \
                PyErr_NoMemory();                                                                                  \
                return -1;                                                                                         \
            }                                                                                                      \
            *codes = out = bigger;                                                                                 \
            *capacity = grown;                                                                                     \
        }                                                                                                          \
        for (uint32_t k = 0; k < count; k++) {                                                                     \
            uint32_t code = t->atoms[first + k];                                                                   \
            if (!(code == SPACE && n && out[n - 1] == SPACE)) {                                                    \
                out[n++] = code;                                                                                   \
            }                                                                                                      \
        }                                                                                                          \
    }

static Py_ssize_t normalize(const Tables *t, PyObject *text, uint32_t **codes, Py_ssize_t *capacity, int *general)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(text), n = 0;
    const void *data = PyUnicode_DATA(text);
    *general = 0;
    if (length > *capacity) {
        uint32_t *bigger = PyMem_Realloc(*codes, length * sizeof(uint32_t));
        if (bigger == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        *codes = bigger;
        *capacity = length;
    }
    uint32_t *out = *codes;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        NORMALIZE_LOOP(Py_UCS1)
        break;
    case PyUnicode_2BYTE_KIND:
        NORMALIZE_LOOP(Py_UCS2)
        break;
    default:
        NORMALIZE_LOOP(Py_UCS4)
        break;
    }
    /* A space goes beside a CJK character and at either end. Spaces are single now, so their neighbours are
     * not spaces, and deleting them makes no new neighbours of spaces. */
    Py_ssize_t kept = 0;
    uint32_t previous = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t code = out[i];
        if (code == SPACE && (i == 0 || i == n - 1 || is_cjk(t, previous) || is_cjk(t, out[i + 1]))) {
            previous = code;
            continue;
        }
        previous = code;
        out[kept++] = code;
    }
    return kept;
}

/* The UTF-8 bytes of code points, or NULL with no exception set when one is not a Unicode scalar value. */
static PyObject *utf8_bytes(const uint32_t *codes, Py_ssize_t n, int *invalid)
{
    Py_ssize_t size = 0;
    *invalid = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t c = codes[i];
        if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            *invalid = 1;
            return NULL;
        }
        size += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, size);
    if (bytes == NULL) {
        return NULL;
    }
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(bytes);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t c = codes[i];
        if (c < 0x80) {
            *p++ = (unsigned char)c;
        }
        else if (c < 0x800) {
            *p++ = (unsigned char)(0xC0 | (c >> 6));
            *p++ = (unsigned char)(0x80 | (c & 0x3F));
        }
        else if (c < 0x10000) {
            *p++ = (unsigned char)(0xE0 | (c >> 12));
            *p++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *p++ = (unsigned char)(0x80 | (c & 0x3F));
        }
        else {
            *p++ = (unsigned char)(0xF0 | (c >> 18));
            *p++ = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            *p++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *p++ = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
    return bytes;
}

static inline uint32_t fmix32(uint32_t key)
{
    key ^= key >> 16;
    key *= 0x85EBCA6Bu;
    key ^= key >> 13;
    key *= 0xC2B2AE35u;
    key ^= key >> 16;
    return key;
}

/* dedup._signature before densification: each 5-gram's hash goes to its bin, which keeps its minimum. */
static void sign(const Tables *t, const uint32_t *codes, Py_ssize_t n, uint32_t *row, Py_ssize_t num_perm)
{
    Py_ssize_t width = n < SHINGLE_SIZE ? n : SHINGLE_SIZE;
    uint32_t base = t->salt + (uint32_t)width * t->multipliers[SHINGLE_SIZE];
    for (Py_ssize_t b = 0; b < num_perm; b++) {
        row[b] = 0xFFFFFFFFu;
    }
    const uint32_t m0 = t->multipliers[0], m1 = t->multipliers[1], m2 = t->multipliers[2],
                   m3 = t->multipliers[3], m4 = t->multipliers[4];
    for (Py_ssize_t j = 0; j + width <= n; j++) {
        uint32_t key = base;
        if (width == SHINGLE_SIZE) {
            key += codes[j] * m0 + codes[j + 1] * m1 + codes[j + 2] * m2 + codes[j + 3] * m3 + codes[j + 4] * m4;
        }
        else {
            for (Py_ssize_t k = 0; k < width; k++) {
                key += codes[j + k] * t->multipliers[k];
            }
        }
        key = fmix32(key);
        Py_ssize_t bin = t->shift >= 0 ? (Py_ssize_t)(key >> t->shift)
                                       : (Py_ssize_t)(((uint64_t)key * (uint64_t)num_perm) >> 32);
        if (key < row[bin]) {
            row[bin] = key;
        }
    }
}

/* dedup.fingerprint_many's core: for each text, its normalized text in UTF-8 (None where the general path is
 * needed, whose row is left zero) and its signature before densification, written to the rows of `matrix`. */
static PyObject *normalize_and_sign(PyObject *module, PyObject *args)
{
    PyObject *texts, *direct, *start, *length, *atoms, *cjk, *multipliers, *matrix;
    unsigned long salt;
    if (!PyArg_ParseTuple(args, "O!OOOOOO!kO", &PyList_Type, &texts, &direct, &start, &length, &atoms, &cjk,
                          &PyTuple_Type, &multipliers, &salt, &matrix)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(multipliers) != SHINGLE_SIZE + 1) {
        PyErr_SetString(PyExc_ValueError, "expected one multiplier per 5-gram position and one for the length");
        return NULL;
    }
    Tables t;
    t.salt = (uint32_t)salt;
    for (int k = 0; k <= SHINGLE_SIZE; k++) {
        unsigned long value = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(multipliers, k));
        if (value == (unsigned long)-1 && PyErr_Occurred()) {
            return NULL;
        }
        t.multipliers[k] = (uint32_t)value;
    }
    Table tables[6] = {0};
    PyObject *objects[6] = {direct, start, length, atoms, cjk, matrix};
    const Py_ssize_t sizes[6] = {4, 4, 1, 4, 1, 4};
    const char *names[6] = {"direct", "start", "length", "atoms", "cjk", "matrix"};
    int got = 0;
    PyObject *result = NULL;
    uint32_t *codes = NULL;
    for (; got < 6; got++) {
        if (get_table(objects[got], sizes[got], &tables[got], names[got]) < 0) {
            goto done;
        }
    }
    if (tables[5].view.readonly) {
        PyErr_SetString(PyExc_ValueError, "matrix must be writable");
        goto done;
    }
    t.size = tables[0].count;
    if (t.size < 1 || tables[1].count != t.size || tables[2].count != t.size || tables[4].count < 1) {
        PyErr_SetString(PyExc_ValueError, "the normalization tables must have one entry per code point");
        goto done;
    }
    t.direct = tables[0].view.buf;
    t.start = tables[1].view.buf;
    t.length = tables[2].view.buf;
    t.atoms = tables[3].view.buf;
    t.atom_count = tables[3].count;
    t.cjk = tables[4].view.buf;
    t.cjk_count = tables[4].count;
    Py_ssize_t count = PyList_GET_SIZE(texts);
    if (count == 0) {
        result = PyList_New(0);
        goto done;
    }
    if (tables[5].count % count) {
        PyErr_SetString(PyExc_ValueError, "matrix must have one row per text");
        goto done;
    }
    Py_ssize_t num_perm = tables[5].count / count;
    t.shift = -1;
    if (num_perm > 1 && !(num_perm & (num_perm - 1))) {
        int bits = 0;
        while (((Py_ssize_t)1 << bits) <= num_perm) {
            bits++;
        }
        t.shift = 33 - bits;
    }
    Py_ssize_t capacity = 4096;
    codes = PyMem_Malloc(capacity * sizeof(uint32_t));
    result = codes ? PyList_New(count) : PyErr_NoMemory();
    if (result == NULL) {
        goto done;
    }
    uint32_t *rows = tables[5].view.buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *text = PyList_GET_ITEM(texts, i);
        uint32_t *row = rows + i * num_perm;
        int general = 0;
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "texts must be str");
            Py_CLEAR(result);
            goto done;
        }
        if (ensure_ready(text) < 0) {
            Py_CLEAR(result);
            goto done;
        }
        Py_ssize_t n = normalize(&t, text, &codes, &capacity, &general);
        if (n < 0) {
            Py_CLEAR(result);
            goto done;
        }
        PyObject *normalized;
        if (general) {
            memset(row, 0, num_perm * sizeof(uint32_t));
            normalized = Py_NewRef(Py_None);
        }
        else {
            int invalid = 0;
            normalized = utf8_bytes(codes, n, &invalid);
            if (invalid) {
                /* Not a table's output: let the general path decide. */
                memset(row, 0, num_perm * sizeof(uint32_t));
                normalized = Py_NewRef(Py_None);
            }
            else if (normalized == NULL) {
                Py_CLEAR(result);
                goto done;
            }
            else {
                sign(&t, codes, n, row, num_perm);
            }
        }
        PyList_SET_ITEM(result, i, normalized);
    }
done:
    PyMem_Free(codes);
    while (got-- > 0) {
        PyBuffer_Release(&tables[got].view);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"clean_text", clean_text, METH_O, "Clean a record's text as pipeline._clean_text defines it."},
    {"normalize_and_sign", normalize_and_sign, METH_VARARGS,
     "Normalized texts (UTF-8) and undensified signatures, as dedup.fingerprint_many computes them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "app.webtext._native", "Compiled per-record text steps of ingestion.", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *created = PyModule_Create(&module);
    /* native.VERSION: the Python side uses this module only when the numbers agree. */
    if (created != NULL && PyModule_AddIntConstant(created, "VERSION", 1) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
