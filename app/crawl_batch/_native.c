/* Compiled versions of per-record text steps of ingestion, each equal to a pure Python definition that stays
 * in app/crawl_batch (the fallback when this module is not built, and the reference its tests compare with).
 * Python code points in, Python code points out: no encoding, no locale. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static inline int is_dropped_control(Py_UCS4 c)
{
    /* NUL and other C0 controls but tab, newline and carriage return (handled as a line end), and DEL. */
    return c <= 0x08 || (c >= 0x0b && c <= 0x1f && c != 0x0d) || c == 0x7f;
}

/* pipeline._clean_text: line ends unified (CRLF and CR become LF), controls dropped, lone surrogates replaced
 * by U+FFFD, each line stripped of trailing whitespace, runs of blank lines collapsed to one, then the whole
 * text stripped. Returns the argument itself when nothing changes. */
static PyObject *clean_text(PyObject *module, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "clean_text() argument must be str");
        return NULL;
    }
    if (PyUnicode_READY(arg) < 0) {
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

static PyMethodDef methods[] = {
    {"clean_text", clean_text, METH_O, "Clean a record's text as pipeline._clean_text defines it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "app.crawl_batch._native", "Compiled per-record text steps of ingestion.", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    return PyModule_Create(&module);
}
