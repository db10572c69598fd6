#ifndef KEYFARM_CCURL_SHIM_H
#define KEYFARM_CCURL_SHIM_H

#include <curl/curl.h>

/*
 * Typed wrappers over curl's variadic curl_easy_setopt / curl_easy_getinfo, which Swift
 * cannot call. Each wrapper passes exactly the C type curl reads with va_arg for that
 * family of options: a `long` (never an `int`), a `curl_off_t`, a data pointer (also used
 * for strings and struct curl_slist *), or a function pointer. The names in parentheses
 * bypass curl's type-checking macro (typecheck-gcc.h), which cannot see the option value
 * inside a wrapper anyway.
 */

/** Write and header callback: (buffer, size, nitems, userdata) -> bytes taken. */
typedef curl_write_callback kf_curl_write_callback;
/** Read callback for uploads: (buffer, size, nitems, userdata) -> bytes given. */
typedef curl_read_callback kf_curl_read_callback;
/** Progress callback: (clientp, dltotal, dlnow, ultotal, ulnow) -> non-zero aborts. */
typedef curl_xferinfo_callback kf_curl_xferinfo_callback;

/** Sets a `long` option (flags, timeouts, CURLOPT_NOPROGRESS, CURLOPT_UPLOAD, ...). */
static inline CURLcode kf_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return (curl_easy_setopt)(handle, option, value);
}

/** Sets a `curl_off_t` option (the *_LARGE sizes, CURLOPT_INFILESIZE_LARGE, ...). */
static inline CURLcode kf_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return (curl_easy_setopt)(handle, option, value);
}

/** Sets a pointer option: a C string (curl copies it), a struct curl_slist *, or user data. */
static inline CURLcode kf_curl_easy_setopt_pointer(CURL *handle, CURLoption option, const void *value) {
    return (curl_easy_setopt)(handle, option, value);
}

/** Sets CURLOPT_WRITEFUNCTION or CURLOPT_HEADERFUNCTION. */
static inline CURLcode kf_curl_easy_setopt_write_callback(CURL *handle, CURLoption option,
                                                          kf_curl_write_callback callback) {
    return (curl_easy_setopt)(handle, option, callback);
}

/** Sets CURLOPT_READFUNCTION. */
static inline CURLcode kf_curl_easy_setopt_read_callback(CURL *handle, CURLoption option,
                                                         kf_curl_read_callback callback) {
    return (curl_easy_setopt)(handle, option, callback);
}

/** Sets CURLOPT_XFERINFOFUNCTION (takes effect once CURLOPT_NOPROGRESS is 0L). */
static inline CURLcode kf_curl_easy_setopt_xferinfo_callback(CURL *handle, CURLoption option,
                                                             kf_curl_xferinfo_callback callback) {
    return (curl_easy_setopt)(handle, option, callback);
}

/** Reads a `long` info (CURLINFO_RESPONSE_CODE, CURLINFO_HTTP_VERSION, ...). */
static inline CURLcode kf_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return (curl_easy_getinfo)(handle, info, value);
}

/** Reads a `curl_off_t` info (CURLINFO_SIZE_DOWNLOAD_T, CURLINFO_TOTAL_TIME_T, ...). */
static inline CURLcode kf_curl_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return (curl_easy_getinfo)(handle, info, value);
}

/** Reads a `double` info (CURLINFO_TOTAL_TIME, ...). */
static inline CURLcode kf_curl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value) {
    return (curl_easy_getinfo)(handle, info, value);
}

/** Reads a string info (CURLINFO_EFFECTIVE_URL, CURLINFO_CONTENT_TYPE, ...); curl owns it. */
static inline CURLcode kf_curl_easy_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return (curl_easy_getinfo)(handle, info, value);
}

#endif /* KEYFARM_CCURL_SHIM_H */
