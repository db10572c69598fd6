// EXR through OpenEXR's C++ library; see include/exr_codec.h.
#include "exr_codec.h"

#include <ImfChannelList.h>
#include <ImfChromaticities.h>
#include <ImfCompression.h>
#include <ImfFrameBuffer.h>
#include <ImfHeader.h>
#include <ImfInputPart.h>
#include <ImfMultiPartInputFile.h>
#include <ImfOutputFile.h>
#include <ImfStandardAttributes.h>
#include <ImfTiledInputPart.h>
#include <exception>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace {

struct Name { Imf::Compression compression; const char *name; };
const Name names[] = {
    {Imf::NO_COMPRESSION, "none"}, {Imf::RLE_COMPRESSION, "rle"}, {Imf::ZIPS_COMPRESSION, "zips"},
    {Imf::ZIP_COMPRESSION, "zip"}, {Imf::PIZ_COMPRESSION, "piz"}, {Imf::PXR24_COMPRESSION, "pxr24"},
    {Imf::B44_COMPRESSION, "b44"}, {Imf::B44A_COMPRESSION, "b44a"}, {Imf::DWAA_COMPRESSION, "dwaa"},
    {Imf::DWAB_COMPRESSION, "dwab"},
};

const char *nameOf(Imf::Compression compression) {
    for (const Name &n : names) if (n.compression == compression) return n.name;
    return "unknown";
}

int fail(kfx_error *error, const std::string &what) {
    std::snprintf(error->message, sizeof(error->message), "%s", what.c_str());
    return 1;
}

void describe(const Imf::Header &header, int parts, kfx_info *info) {
    std::memset(info, 0, sizeof(*info));
    const Imath::Box2i &window = header.dataWindow();
    info->parts = parts;
    info->width = window.max.x - window.min.x + 1;
    info->height = window.max.y - window.min.y + 1;
    const Imf::ChannelList &channels = header.channels();
    bool rgb = channels.findChannel("R") && channels.findChannel("G") && channels.findChannel("B");
    bool y = channels.findChannel("Y") != nullptr;
    info->has_rgb = rgb || y;
    info->half = 1;
    for (const char *c : {"R", "G", "B", "Y"}) {
        const Imf::Channel *channel = channels.findChannel(c);
        if (channel && channel->type != Imf::HALF) info->half = 0;
    }
    std::snprintf(info->compression, sizeof(info->compression), "%s", nameOf(header.compression()));
    if (Imf::hasChromaticities(header)) {
        const Imf::Chromaticities &c = Imf::chromaticities(header);
        float values[8] = {c.red.x, c.red.y, c.green.x, c.green.y, c.blue.x, c.blue.y, c.white.x, c.white.y};
        std::memcpy(info->chromaticities, values, sizeof(values));
        info->has_chromaticities = 1;
    }
}

}  // namespace

extern "C" int kfx_info_of(const char *path, int part, kfx_info *info, kfx_error *error) {
    error->message[0] = 0;
    try {
        Imf::MultiPartInputFile file(path);
        if (part < 0 || part >= file.parts()) return fail(error, "the file has " + std::to_string(file.parts()) + " part(s), no part " + std::to_string(part));
        describe(file.header(part), file.parts(), info);
        return 0;
    } catch (const std::exception &e) {
        return fail(error, e.what());
    }
}

extern "C" int kfx_read_rgb(const char *path, int part, int max_side, unsigned long long max_pixels,
                            float **pixels, kfx_info *info, kfx_error *error) {
    error->message[0] = 0;
    *pixels = nullptr;
    try {
        Imf::MultiPartInputFile file(path);
        if (part < 0 || part >= file.parts()) return fail(error, "the file has " + std::to_string(file.parts()) + " part(s), no part " + std::to_string(part));
        const Imf::Header &header = file.header(part);
        describe(header, file.parts(), info);
        if (!info->has_rgb) return fail(error, "it has no R, G and B (or Y) channels");
        long long width = info->width, height = info->height;
        if (width < 1 || height < 1 || width > max_side || height > max_side ||
            (unsigned long long)(width * height) > max_pixels) {
            return fail(error, std::to_string(width) + "x" + std::to_string(height) + " is larger than allowed");
        }
        float *buffer = (float *)std::calloc((size_t)(width * height * 3), sizeof(float));
        if (!buffer) return fail(error, "out of memory");
        const Imath::Box2i &window = header.dataWindow();
        // The frame buffer is addressed by absolute coordinates: shift its base by the window's origin.
        char *base = (char *)buffer - ((ptrdiff_t)window.min.x + (ptrdiff_t)window.min.y * width) * 3 * (ptrdiff_t)sizeof(float);
        Imf::FrameBuffer frame;
        bool rgb = header.channels().findChannel("R") != nullptr;
        const char *sources[3] = {rgb ? "R" : "Y", rgb ? "G" : "Y", rgb ? "B" : "Y"};
        for (int c = 0; c < 3; c++) {
            frame.insert(sources[c], Imf::Slice(Imf::FLOAT, base + c * sizeof(float), 3 * sizeof(float),
                                                3 * sizeof(float) * (size_t)width, 1, 1, 0.0));
        }
        if (header.hasTileDescription()) {
            Imf::TiledInputPart input(file, part);
            input.setFrameBuffer(frame);
            input.readTiles(0, input.numXTiles(0) - 1, 0, input.numYTiles(0) - 1);
        } else {
            Imf::InputPart input(file, part);
            input.setFrameBuffer(frame);
            input.readPixels(window.min.y, window.max.y);
        }
        float largest = 0;
        for (long long i = 0; i < width * height * 3; i++) if (buffer[i] > largest) largest = buffer[i];
        info->max_value = largest;
        *pixels = buffer;
        return 0;
    } catch (const std::exception &e) {
        return fail(error, e.what());
    }
}

extern "C" int kfx_write_rgb_half(const char *path, int width, int height, const uint16_t *pixels,
                                  const char *compression, const float *chromaticities, kfx_error *error) {
    error->message[0] = 0;
    Imf::Compression chosen = Imf::NUM_COMPRESSION_METHODS;
    for (const Name &n : names) if (std::strcmp(n.name, compression) == 0) chosen = n.compression;
    if (chosen == Imf::NUM_COMPRESSION_METHODS) return fail(error, std::string("unknown compression ") + compression);
    std::string temporary = std::string(path) + ".part-" + std::to_string(getpid());
    try {
        Imf::Header header(width, height);
        header.compression() = chosen;
        header.channels().insert("R", Imf::Channel(Imf::HALF));
        header.channels().insert("G", Imf::Channel(Imf::HALF));
        header.channels().insert("B", Imf::Channel(Imf::HALF));
        if (chromaticities) {
            Imf::addChromaticities(header, Imf::Chromaticities(
                Imath::V2f(chromaticities[0], chromaticities[1]), Imath::V2f(chromaticities[2], chromaticities[3]),
                Imath::V2f(chromaticities[4], chromaticities[5]), Imath::V2f(chromaticities[6], chromaticities[7])));
        }
        {
            Imf::OutputFile file(temporary.c_str(), header);
            Imf::FrameBuffer frame;
            const char *channels[3] = {"R", "G", "B"};
            for (int c = 0; c < 3; c++) {
                frame.insert(channels[c], Imf::Slice(Imf::HALF, (char *)(pixels + c), 3 * sizeof(uint16_t),
                                                     3 * sizeof(uint16_t) * (size_t)width));
            }
            file.setFrameBuffer(frame);
            file.writePixels(height);
        }
        if (std::rename(temporary.c_str(), path) != 0) {
            unlink(temporary.c_str());
            return fail(error, std::string("cannot rename the finished file into place: ") + std::strerror(errno));
        }
        return 0;
    } catch (const std::exception &e) {
        unlink(temporary.c_str());
        return fail(error, e.what());
    }
}
