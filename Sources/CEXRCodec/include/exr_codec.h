#ifndef KEYFARM_EXR_CODEC_H
#define KEYFARM_EXR_CODEC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * EXR reading and writing through OpenEXR's C++ library, which (unlike the 3.1 core C
 * library) decodes and encodes every compression, DWAA and DWAB included, reads tiled and
 * multi-part files, and carries chromaticities. Every error comes back as a non-zero result
 * and a message.
 */

typedef struct {
    char message[512];
} kfx_error;

/** What a file holds, without its pixels. */
typedef struct {
    int parts;              /* parts in the file (frames, for a multi-part export) */
    int width;              /* of the part asked for */
    int height;
    int has_rgb;            /* R, G and B (or Y) present */
    int half;               /* every RGB channel is half float */
    char compression[16];   /* "none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab" */
    int has_chromaticities;
    float chromaticities[8]; /* red x y, green x y, blue x y, white x y */
    float max_value;        /* the largest R, G or B sample (kfx_read_rgb only) */
} kfx_info;

/** The number of parts in the file, and part `part`'s header facts. Returns 0 on success. */
int kfx_info_of(const char *path, int part, kfx_info *info, kfx_error *error);

/**
 * Reads part `part` as interleaved linear RGB floats (Y copied to all three), malloc'd into
 * `*pixels` (free() it). Refuses images over `max_side` on a side or `max_pixels` pixels.
 * Returns 0 on success.
 */
int kfx_read_rgb(const char *path, int part, int max_side, unsigned long long max_pixels,
                 float **pixels, kfx_info *info, kfx_error *error);

/**
 * Writes interleaved RGB half floats (binary16 bit patterns) as a one-part scanline EXR with
 * `compression` ("zip", "dwab", "piz", "none", ...) and, unless NULL, the chromaticities
 * (red x y, green x y, blue x y, white x y). Written to a temporary file renamed over `path`
 * when complete. Returns 0 on success.
 */
int kfx_write_rgb_half(const char *path, int width, int height, const uint16_t *pixels,
                       const char *compression, const float *chromaticities, kfx_error *error);

#ifdef __cplusplus
}
#endif

#endif
