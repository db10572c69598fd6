#ifndef KEYFARM_CPNG_SHIM_H
#define KEYFARM_CPNG_SHIM_H

#include <png.h>
#include <zlib.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

/*
 * Whole-image PNG decode and encode in memory. libpng reports errors by longjmp, which
 * must never cross Swift frames, so setjmp and every libpng call stay inside these C
 * functions; an error comes back as a non-zero result and a message in `error`.
 * (libpng's simplified png_image API avoids longjmp too, but it treats 16-bit samples as
 * linear light and writes gAMA 1.0; Keyfarm reads and writes ordinary sRGB 16-bit PNGs.)
 */

typedef struct {
    char message[256];
} kf_png_error;

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t offset;
} kf_png_reader;

typedef struct {
    unsigned char *data;
    size_t size;
    size_t capacity;
    int failed;
} kf_png_writer;

typedef struct {
    jmp_buf jump;
    kf_png_error *error;
} kf_png_context;

static void kf_png_on_error(png_structp png, png_const_charp message) {
    kf_png_context *context = (kf_png_context *)png_get_error_ptr(png);
    strncpy(context->error->message, message ? message : "libpng error", sizeof(context->error->message) - 1);
    context->error->message[sizeof(context->error->message) - 1] = 0;
    longjmp(context->jump, 1);
}

static void kf_png_on_warning(png_structp png, png_const_charp message) {
    (void)png; (void)message;
}

static void kf_png_read_bytes(png_structp png, png_bytep out, size_t count) {
    kf_png_reader *reader = (kf_png_reader *)png_get_io_ptr(png);
    if (count > reader->size - reader->offset) {
        png_error(png, "the file ends early (truncated)");
    }
    memcpy(out, reader->data + reader->offset, count);
    reader->offset += count;
}

static void kf_png_write_bytes(png_structp png, png_bytep bytes, size_t count) {
    kf_png_writer *writer = (kf_png_writer *)png_get_io_ptr(png);
    if (writer->size + count > writer->capacity) {
        size_t capacity = writer->capacity ? writer->capacity : 65536;
        while (capacity < writer->size + count) capacity *= 2;
        unsigned char *grown = (unsigned char *)realloc(writer->data, capacity);
        if (!grown) png_error(png, "out of memory while encoding");
        writer->data = grown;
        writer->capacity = capacity;
    }
    memcpy(writer->data + writer->size, bytes, count);
    writer->size += count;
}

static void kf_png_flush(png_structp png) { (void)png; }

/** What kf_png_decode found: RGB samples, 8 or 16 bits (native endian), malloc'd. */
typedef struct {
    unsigned int width;
    unsigned int height;
    int depth;          /* 8 or 16 */
    void *pixels;       /* width * height * 3 samples; free() it */
} kf_png_image;

/**
 * Decodes a PNG held in memory to RGB (palette expanded, gray widened, alpha dropped),
 * keeping 16-bit samples 16-bit. Refuses images wider or taller than max_side or with more
 * than max_pixels pixels before allocating anything. Returns 0 on success.
 */
static inline int kf_png_decode(const void *data, size_t size, unsigned int max_side,
                                unsigned long long max_pixels, kf_png_image *image, kf_png_error *error) {
    kf_png_context context;
    kf_png_reader reader = { (const unsigned char *)data, size, 0 };
    png_structp png = NULL;
    png_infop info = NULL;
    png_bytepp volatile rows = NULL;
    void *volatile pixels = NULL;
    context.error = error;
    error->message[0] = 0;
    image->pixels = NULL;
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        strcpy(error->message, "not a PNG file (bad signature)");
        return 1;
    }
    if (size >= 24 && memcmp((const unsigned char *)data + 12, "IHDR", 4) == 0) {
        /* Check the declared size before libpng reads further, so that a header alone is judged. */
        const unsigned char *h = (const unsigned char *)data + 16;
        unsigned long long w = ((unsigned long long)h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
        unsigned long long ht = ((unsigned long long)h[4] << 24) | (h[5] << 16) | (h[6] << 8) | h[7];
        if (w > max_side || ht > max_side || w * ht > max_pixels) {
            snprintf(error->message, sizeof(error->message),
                     "%llux%llu pixels is too large (at most %u per side and %llu in all)", w, ht, max_side, max_pixels);
            return 1;
        }
    }
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &context, kf_png_on_error, kf_png_on_warning);
    if (!png) { strcpy(error->message, "cannot create a libpng reader"); return 1; }
    info = png_create_info_struct(png);
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); strcpy(error->message, "cannot create a libpng reader"); return 1; }
    if (setjmp(context.jump)) {
        free((void *)pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    png_set_user_limits(png, max_side, max_side);
    png_set_chunk_malloc_max(png, 64u * 1024u * 1024u);
    png_set_read_fn(png, &reader, kf_png_read_bytes);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if ((unsigned long long)width * height > max_pixels) {
        snprintf(error->message, sizeof(error->message), "%ux%u pixels is too large (at most %u per side and %llu in all)",
                 (unsigned)width, (unsigned)height, max_side, max_pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png), png_set_strip_alpha(png);
    if (depth == 16) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        png_set_swap(png);
#endif
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int outDepth = depth == 16 ? 16 : 8;
    size_t rowBytes = png_get_rowbytes(png, info);
    if (rowBytes != (size_t)width * 3 * (outDepth / 8)) {
        strcpy(error->message, "unexpected row layout after conversion to RGB");
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    pixels = malloc(rowBytes * height);
    rows = (png_bytepp)malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = (png_bytep)pixels + rowBytes * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    image->width = width;
    image->height = height;
    image->depth = outDepth;
    image->pixels = (void *)pixels;
    return 0;
}

/**
 * Encodes RGB samples (8-bit, or 16-bit native endian) as a PNG in a malloc'd buffer tagged
 * sRGB, with libpng's adaptive filter choice. `level` is zlib's 0..9. (Frames take Keyfarm's
 * own band-parallel encoder instead; this one makes the smallest files.) Returns 0 on success.
 */
static inline int kf_png_encode(const void *pixels, unsigned int width, unsigned int height, int depth,
                                int level, unsigned char **out, size_t *outSize, kf_png_error *error) {
    kf_png_context context;
    volatile kf_png_writer writer = { NULL, 0, 0, 0 };
    png_structp png = NULL;
    png_infop info = NULL;
    context.error = error;
    error->message[0] = 0;
    *out = NULL;
    *outSize = 0;
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, kf_png_on_error, kf_png_on_warning);
    if (!png) { strcpy(error->message, "cannot create a libpng writer"); return 1; }
    info = png_create_info_struct(png);
    if (!info) { png_destroy_write_struct(&png, NULL); strcpy(error->message, "cannot create a libpng writer"); return 1; }
    if (setjmp(context.jump)) {
        free(writer.data);
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    png_set_write_fn(png, (void *)&writer, kf_png_write_bytes, kf_png_flush);
    png_set_compression_level(png, level);
    png_set_IHDR(png, info, width, height, depth, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_sRGB_gAMA_and_cHRM(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
    png_write_info(png, info);
    if (depth == 16) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        png_set_swap(png);
#endif
    }
    size_t rowBytes = (size_t)width * 3 * (depth / 8);
    for (unsigned int y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)pixels + rowBytes * y);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = writer.data;
    *outSize = writer.size;
    return 0;
}

#endif /* KEYFARM_CPNG_SHIM_H */
