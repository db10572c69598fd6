#ifndef KEYFARM_COPENEXR_SHIM_H
#define KEYFARM_COPENEXR_SHIM_H

#include <openexr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Whole-image RGB reads and half-float writes over the OpenEXR core C library, so that Swift
 * never handles the pipeline structs (whose channel arrays and unions import awkwardly).
 * Every error comes back as a non-zero result and a message in `error`.
 */

typedef struct {
    char message[256];
} kf_exr_error;

static void kf_exr_on_error(exr_const_context_t context, exr_result_t code, const char *message) {
    void *user = NULL;
    if (exr_get_user_data(context, &user) == EXR_ERR_SUCCESS && user) {
        kf_exr_error *error = (kf_exr_error *)user;
        snprintf(error->message, sizeof(error->message), "%s", message ? message : exr_get_error_code_as_string(code));
    }
}

static inline exr_context_initializer_t kf_exr_initializer(kf_exr_error *error, int max_side) {
    exr_context_initializer_t init;
    memset(&init, 0, sizeof(init));
    init.size = sizeof(exr_context_initializer_t);
    init.error_handler_fn = kf_exr_on_error;
    init.user_data = error;
    init.max_image_width = max_side;
    init.max_image_height = max_side;
    init.max_tile_width = max_side;
    init.max_tile_height = max_side;
    init.zip_level = -2;
    init.dwa_quality = -1.f;
    init.flags = EXR_CONTEXT_FLAG_SILENT_HEADER_PARSE;
    return init;
}

static inline int kf_exr_fail(kf_exr_error *error, exr_result_t code, const char *what) {
    if (!error->message[0]) {
        snprintf(error->message, sizeof(error->message), "%s: %s", what, exr_get_error_code_as_string(code));
    } else {
        char detail[256];
        snprintf(detail, sizeof(detail), "%s", error->message);
        snprintf(error->message, sizeof(error->message), "%s: %s", what, detail);
    }
    return 1;
}

/** What kf_exr_read_rgb found: linear RGB floats, interleaved, malloc'd. */
typedef struct {
    int width;
    int height;
    float *pixels;   /* width * height * 3 floats; free() it */
} kf_exr_image;

/**
 * Reads the first part of a scanline EXR file into interleaved RGB floats. R, G and B (or a
 * single Y, copied to all three) must be present with no subsampling; half, float and uint
 * channels are converted. Refuses images with a side over max_side or more than max_pixels
 * pixels before allocating them. Returns 0 on success.
 */
static inline int kf_exr_read_rgb(const char *path, int max_side, unsigned long long max_pixels,
                                  kf_exr_image *image, kf_exr_error *error) {
    exr_context_t context = NULL;
    exr_result_t rv;
    error->message[0] = 0;
    image->pixels = NULL;
    exr_context_initializer_t init = kf_exr_initializer(error, max_side);
    rv = exr_start_read(&context, path, &init);
    if (rv != EXR_ERR_SUCCESS) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot read the EXR header"); }

    exr_storage_t storage;
    rv = exr_get_storage(context, 0, &storage);
    if (rv != EXR_ERR_SUCCESS) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot read the EXR header"); }
    if (storage != EXR_STORAGE_SCANLINE) {
        exr_finish(&context);
        snprintf(error->message, sizeof(error->message), "only scanline EXR images are supported (this one is %s)",
                 storage == EXR_STORAGE_TILED ? "tiled" : "deep or multi-resolution");
        return 1;
    }
    exr_attr_box2i_t window;
    rv = exr_get_data_window(context, 0, &window);
    if (rv != EXR_ERR_SUCCESS) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot read the data window"); }
    long long width = (long long)window.max.x - window.min.x + 1, height = (long long)window.max.y - window.min.y + 1;
    if (width <= 0 || height <= 0 || width > max_side || height > max_side
        || (unsigned long long)(width * height) > max_pixels) {
        exr_finish(&context);
        snprintf(error->message, sizeof(error->message), "image size %lldx%lld is out of bounds (at most %d per side, %llu pixels)",
                 width, height, max_side, max_pixels);
        return 1;
    }
    const exr_attr_chlist_t *channels = NULL;
    rv = exr_get_channels(context, 0, &channels);
    if (rv != EXR_ERR_SUCCESS || !channels) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot read the channel list"); }
    int found[3] = { -1, -1, -1 }, luminance = -1;
    for (int c = 0; c < channels->num_channels; c++) {
        const exr_attr_chlist_entry_t *entry = &channels->entries[c];
        const char *name = entry->name.str;
        if (entry->x_sampling != 1 || entry->y_sampling != 1) continue;
        if (strcmp(name, "R") == 0) found[0] = c;
        else if (strcmp(name, "G") == 0) found[1] = c;
        else if (strcmp(name, "B") == 0) found[2] = c;
        else if (strcmp(name, "Y") == 0) luminance = c;
    }
    int gray = 0;
    if (found[0] < 0 || found[1] < 0 || found[2] < 0) {
        if (luminance < 0) {
            exr_finish(&context);
            snprintf(error->message, sizeof(error->message), "no full-resolution R, G and B (or Y) channels");
            return 1;
        }
        gray = 1;
    }
    int32_t lines = 0;
    rv = exr_get_scanlines_per_chunk(context, 0, &lines);
    if (rv != EXR_ERR_SUCCESS || lines <= 0) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot read the chunk layout"); }

    float *pixels = (float *)calloc((size_t)(width * height * 3), sizeof(float));
    if (!pixels) { exr_finish(&context); snprintf(error->message, sizeof(error->message), "out of memory"); return 1; }
    exr_decode_pipeline_t decoder;
    memset(&decoder, 0, sizeof(decoder));
    int initialized = 0;
    for (int y = window.min.y; y <= window.max.y; y += lines) {
        exr_chunk_info_t chunk;
        rv = exr_read_scanline_chunk_info(context, 0, y, &chunk);
        if (rv != EXR_ERR_SUCCESS) break;
        rv = initialized ? exr_decoding_update(context, 0, &chunk, &decoder)
                         : exr_decoding_initialize(context, 0, &chunk, &decoder);
        if (rv != EXR_ERR_SUCCESS) break;
        initialized = 1;
        size_t row = (size_t)(chunk.start_y - window.min.y);
        for (int c = 0; c < decoder.channel_count; c++) {
            exr_coding_channel_info_t *channel = &decoder.channels[c];
            int target = -1;
            if (gray) {
                if (strcmp(channel->channel_name, "Y") == 0) target = 0;
            } else if (strcmp(channel->channel_name, "R") == 0) target = 0;
            else if (strcmp(channel->channel_name, "G") == 0) target = 1;
            else if (strcmp(channel->channel_name, "B") == 0) target = 2;
            if (target < 0 || channel->x_samples != 1 || channel->y_samples != 1) {
                channel->decode_to_ptr = NULL;
                continue;
            }
            channel->decode_to_ptr = (uint8_t *)(pixels + (row * (size_t)width) * 3 + target);
            channel->user_pixel_stride = 3 * sizeof(float);
            channel->user_line_stride = (int32_t)(width * 3 * sizeof(float));
            channel->user_bytes_per_element = sizeof(float);
            channel->user_data_type = EXR_PIXEL_FLOAT;
        }
        rv = exr_decoding_choose_default_routines(context, 0, &decoder);
        if (rv != EXR_ERR_SUCCESS) break;
        rv = exr_decoding_run(context, 0, &decoder);
        if (rv != EXR_ERR_SUCCESS) break;
    }
    if (initialized) exr_decoding_destroy(context, &decoder);
    exr_finish(&context);
    if (rv != EXR_ERR_SUCCESS) {
        free(pixels);
        return kf_exr_fail(error, rv, "cannot decode the pixels (corrupt or truncated)");
    }
    if (gray) {
        for (size_t i = 0; i < (size_t)(width * height); i++) pixels[i * 3 + 1] = pixels[i * 3 + 2] = pixels[i * 3];
    }
    image->width = (int)width;
    image->height = (int)height;
    image->pixels = pixels;
    return 0;
}

/**
 * Writes interleaved RGB half floats (IEEE binary16 bit patterns) as a one-part scanline EXR
 * with ZIP compression, through a temporary file that replaces `path` only when complete.
 * Returns 0 on success.
 */
static inline int kf_exr_write_rgb_half(const char *path, int width, int height, const uint16_t *pixels,
                                        kf_exr_error *error) {
    exr_context_t context = NULL;
    exr_result_t rv;
    int part = 0;
    error->message[0] = 0;
    exr_context_initializer_t init = kf_exr_initializer(error, 1 << 30);
    rv = exr_start_write(&context, path, EXR_INTERMEDIATE_TEMP_FILE, &init);
    if (rv != EXR_ERR_SUCCESS) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot create the EXR file"); }
    rv = exr_add_part(context, "rgb", EXR_STORAGE_SCANLINE, &part);
    if (rv == EXR_ERR_SUCCESS) rv = exr_initialize_required_attr_simple(context, part, width, height, EXR_COMPRESSION_ZIP);
    /* Channels are stored in alphabetical order. */
    if (rv == EXR_ERR_SUCCESS) rv = exr_add_channel(context, part, "B", EXR_PIXEL_HALF, EXR_PERCEPTUALLY_LOGARITHMIC, 1, 1);
    if (rv == EXR_ERR_SUCCESS) rv = exr_add_channel(context, part, "G", EXR_PIXEL_HALF, EXR_PERCEPTUALLY_LOGARITHMIC, 1, 1);
    if (rv == EXR_ERR_SUCCESS) rv = exr_add_channel(context, part, "R", EXR_PIXEL_HALF, EXR_PERCEPTUALLY_LOGARITHMIC, 1, 1);
    /* Keyfarm's linear light has Rec.709 / sRGB primaries and a D65 white point; say so. */
    if (rv == EXR_ERR_SUCCESS) {
        exr_attr_chromaticities_t chromaticities = { 0.64f, 0.33f, 0.30f, 0.60f, 0.15f, 0.06f, 0.3127f, 0.3290f };
        rv = exr_attr_set_chromaticities(context, part, "chromaticities", &chromaticities);
    }
    if (rv == EXR_ERR_SUCCESS) rv = exr_write_header(context);
    if (rv != EXR_ERR_SUCCESS) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot write the EXR header"); }
    int32_t lines = 0;
    rv = exr_get_scanlines_per_chunk(context, part, &lines);
    exr_encode_pipeline_t encoder;
    memset(&encoder, 0, sizeof(encoder));
    int initialized = 0;
    for (int y = 0; rv == EXR_ERR_SUCCESS && y < height; y += lines) {
        exr_chunk_info_t chunk;
        rv = exr_write_scanline_chunk_info(context, part, y, &chunk);
        if (rv != EXR_ERR_SUCCESS) break;
        rv = initialized ? exr_encoding_update(context, part, &chunk, &encoder)
                         : exr_encoding_initialize(context, part, &chunk, &encoder);
        if (rv != EXR_ERR_SUCCESS) break;
        for (int c = 0; c < encoder.channel_count; c++) {
            exr_coding_channel_info_t *channel = &encoder.channels[c];
            int source = strcmp(channel->channel_name, "R") == 0 ? 0 : strcmp(channel->channel_name, "G") == 0 ? 1 : 2;
            channel->encode_from_ptr = (const uint8_t *)(pixels + ((size_t)chunk.start_y * width) * 3 + source);
            channel->user_pixel_stride = 3 * sizeof(uint16_t);
            channel->user_line_stride = width * 3 * (int32_t)sizeof(uint16_t);
            channel->user_bytes_per_element = sizeof(uint16_t);
            channel->user_data_type = EXR_PIXEL_HALF;
        }
        initialized = 1;
        rv = exr_encoding_choose_default_routines(context, part, &encoder);
        if (rv != EXR_ERR_SUCCESS) break;
        rv = exr_encoding_run(context, part, &encoder);
    }
    if (initialized) exr_encoding_destroy(context, &encoder);
    if (rv != EXR_ERR_SUCCESS) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot write the EXR pixels"); }
    rv = exr_finish(&context);
    if (rv != EXR_ERR_SUCCESS) return kf_exr_fail(error, rv, "cannot finish the EXR file");
    return 0;
}

/** What kf_exr_read_header found in the first part of a file. */
typedef struct {
    int width;
    int height;
    int channels;           /* how many channels */
    char names[64];         /* channel names, comma-separated, in file order */
    int all_half;           /* 1 when every channel is half float */
    int compression;        /* exr_compression_t */
    int has_chromaticities; /* 1 when a chromaticities attribute is present */
    float chromaticities[8];/* red x y, green x y, blue x y, white x y */
} kf_exr_header;

/** Reads only the header of an EXR file (for checking what was written). Returns 0 on success. */
static inline int kf_exr_read_header(const char *path, kf_exr_header *header, kf_exr_error *error) {
    exr_context_t context = NULL;
    exr_result_t rv;
    error->message[0] = 0;
    memset(header, 0, sizeof(*header));
    exr_context_initializer_t init = kf_exr_initializer(error, 1 << 30);
    rv = exr_start_read(&context, path, &init);
    if (rv != EXR_ERR_SUCCESS) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot read the EXR header"); }
    exr_attr_box2i_t window;
    rv = exr_get_data_window(context, 0, &window);
    if (rv != EXR_ERR_SUCCESS) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot read the data window"); }
    header->width = window.max.x - window.min.x + 1;
    header->height = window.max.y - window.min.y + 1;
    const exr_attr_chlist_t *channels = NULL;
    rv = exr_get_channels(context, 0, &channels);
    if (rv != EXR_ERR_SUCCESS || !channels) { exr_finish(&context); return kf_exr_fail(error, rv, "cannot read the channel list"); }
    header->channels = channels->num_channels;
    header->all_half = 1;
    for (int c = 0; c < channels->num_channels; c++) {
        const exr_attr_chlist_entry_t *entry = &channels->entries[c];
        if (entry->pixel_type != EXR_PIXEL_HALF) header->all_half = 0;
        size_t used = strlen(header->names);
        snprintf(header->names + used, sizeof(header->names) - used, "%s%s", c ? "," : "", entry->name.str);
    }
    exr_compression_t compression;
    if (exr_get_compression(context, 0, &compression) == EXR_ERR_SUCCESS) header->compression = (int)compression;
    exr_attr_chromaticities_t chromaticities;
    if (exr_attr_get_chromaticities(context, 0, "chromaticities", &chromaticities) == EXR_ERR_SUCCESS) {
        header->has_chromaticities = 1;
        header->chromaticities[0] = chromaticities.red_x; header->chromaticities[1] = chromaticities.red_y;
        header->chromaticities[2] = chromaticities.green_x; header->chromaticities[3] = chromaticities.green_y;
        header->chromaticities[4] = chromaticities.blue_x; header->chromaticities[5] = chromaticities.blue_y;
        header->chromaticities[6] = chromaticities.white_x; header->chromaticities[7] = chromaticities.white_y;
    }
    exr_finish(&context);
    return 0;
}

#endif /* KEYFARM_COPENEXR_SHIM_H */
