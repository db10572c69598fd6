/// The objects job specs of several kinds share: images, anchors, reframes, and the artifacts
/// the store hands on (`inputs`, `reuse`).
extension JobSpec {
    /// Where a start or end frame comes from: `{"kind": "file", "path", "sha256"}` (a local
    /// PNG or EXR, and its content hash when the submitting command read it), `{"kind": "url",
    /// "url"}` (an https URL the provider fetches), or `{"kind": "last_frame_of", "job"}` (the
    /// last frame that job rendered, found in `inputs`).
    public enum Image: Codable, Sendable, Equatable {
        case file(path: String, sha256: String? = nil)
        case url(String)
        case lastFrameOf(job: String)

        enum CodingKeys: String, CodingKey { case kind, path, sha256, url, job }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let kind: String = try c.required(.kind)
            switch kind {
            case "file": self = .file(path: try c.required(.path), sha256: try c.optional(.sha256))
            case "url": self = .url(try c.required(.url))
            case "last_frame_of": self = .lastFrameOf(job: try c.required(.job))
            default:
                throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription: "is \"\(kind)\", not file, url or last_frame_of")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .file(let path, let sha256):
                try c.encode("file", forKey: .kind)
                try c.encode(path, forKey: .path)
                try c.encodeIfPresent(sha256, forKey: .sha256)
            case .url(let url):
                try c.encode("url", forKey: .kind)
                try c.encode(url, forKey: .url)
            case .lastFrameOf(let job):
                try c.encode("last_frame_of", forKey: .kind)
                try c.encode(job, forKey: .job)
            }
        }
    }

    /// One keyframe of a multi-keyframe generation: `{"keyframe", "frame", "position", "image"}`,
    /// `keyframe` and `image` written as null for a chained part's continuity frame.
    public struct Anchor: Codable, Sendable, Equatable {
        /// The shot's keyframe index; nil for the continuity frame that starts a chained part.
        public var keyframe: Int?
        /// The shot frame it sits on.
        public var frame: Int
        /// Its position on the generation's 24 fps grid.
        public var position: Int
        public var image: Image?

        public init(keyframe: Int?, frame: Int, position: Int, image: Image?) {
            self.keyframe = keyframe
            self.frame = frame
            self.position = position
            self.image = image
        }

        enum CodingKeys: String, CodingKey { case keyframe, frame, position, image }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(keyframe, forKey: .keyframe)
            try c.encode(frame, forKey: .frame)
            try c.encode(position, forKey: .position)
            try c.encode(image, forKey: .image)
        }
    }

    /// How a job takes part in delivering its shot at another aspect ratio:
    /// `{"aspect": "9:16", "tag": "9x16", "position": "center" | {"x_norm", ...}, "of": "sh010/s0"}`.
    public struct Reframe: Codable, Sendable, Equatable {
        public var aspect: Aspect
        /// The aspect as a name for files and folders: `9x16`.
        public var tag: String
        /// Where the source sits in the new frame (centred when absent).
        public var position: ReframePosition
        /// A provider reframe job: the segment job whose generation it reframes. Nil for a stitch.
        public var of: String?

        public init(aspect: Aspect, tag: String, position: ReframePosition, of: String? = nil) {
            self.aspect = aspect
            self.tag = tag
            self.position = position
            self.of = of
        }

        enum CodingKeys: String, CodingKey { case aspect, tag, position, of }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            aspect = try c.choice(.aspect)
            tag = try c.required(.tag)
            position = try c.value(.position, or: .center)
            of = try c.optional(.of)
        }
    }

    /// One artifact of a succeeded attempt, as the coordinator records it and hands it to the
    /// jobs after it (`inputs`): `{"path", "sha256", "bytes", "media_type", "frames", "storage_root"}`.
    public struct Artifact: Codable, Sendable, Equatable {
        /// Relative to the farm's storage root.
        public var path: String
        /// A file's SHA-256 (lower-case hex); an EXR sequence's is that of its listing.
        public var sha256: String
        public var bytes: Int64
        public var mediaType: String
        /// A sequence's frame count.
        public var frames: Int?
        /// The storage root of the worker that reported it.
        public var storageRoot: String?

        public init(path: String, sha256: String, bytes: Int64 = 0, mediaType: String, frames: Int? = nil,
                    storageRoot: String? = nil) {
            self.path = path
            self.sha256 = sha256
            self.bytes = bytes
            self.mediaType = mediaType
            self.frames = frames
            self.storageRoot = storageRoot
        }

        /// Whether `path` is relative and has no `..`: it cannot name a file outside the storage root.
        public var staysInStorage: Bool { !path.hasPrefix("/") && !path.split(separator: "/").contains("..") }

        enum CodingKeys: String, CodingKey {
            case path, sha256, bytes, mediaType = "media_type", frames, storageRoot = "storage_root"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            path = try c.required(.path)
            sha256 = try c.required(.sha256)
            bytes = try c.value(.bytes, or: 0)
            mediaType = try c.value(.mediaType, or: "")
            frames = try c.optional(.frames)
            storageRoot = try c.optional(.storageRoot)
        }
    }

    /// An earlier generation whose artifacts stand in for the job's, added by `keyfarm submit`
    /// when a succeeded job of the project asked exactly the same (`request_key`).
    public struct Reuse: Codable, Sendable, Equatable {
        /// The attempt that rendered the artifacts (never a reused one).
        public var attemptID: Int64
        public var attempt: Int
        public var jobID: Int64
        public var jobKey: String
        public var shotList: String
        public var revision: Int
        public var artifacts: [Artifact]

        public init(attemptID: Int64, attempt: Int, jobID: Int64, jobKey: String, shotList: String, revision: Int,
                    artifacts: [Artifact]) {
            self.attemptID = attemptID
            self.attempt = attempt
            self.jobID = jobID
            self.jobKey = jobKey
            self.shotList = shotList
            self.revision = revision
            self.artifacts = artifacts
        }

        enum CodingKeys: String, CodingKey {
            case attemptID = "attempt_id", attempt, jobID = "job_id", jobKey = "job_key", shotList = "shot_list"
            case revision, artifacts
        }
    }
}

/// `"center"`, or `{"x_norm", "y_norm", "w_norm", "h_norm"}` as Luma's `video.source_position`.
extension ReframePosition: Codable {
    enum CodingKeys: String, CodingKey { case x = "x_norm", y = "y_norm", w = "w_norm", h = "h_norm" }

    public init(from decoder: any Decoder) throws {
        if let name = try? decoder.singleValueContainer().decode(String.self) {
            guard name == "center" else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "is \"\(name)\", not center or an object of x_norm, y_norm, w_norm and h_norm"))
            }
            self = .center
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self = .rect(x: try c.required(.x), y: try c.required(.y), w: try c.required(.w), h: try c.required(.h))
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .center:
            var c = encoder.singleValueContainer()
            try c.encode("center")
        case .rect(let x, let y, let w, let h):
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(x, forKey: .x)
            try c.encode(y, forKey: .y)
            try c.encode(w, forKey: .w)
            try c.encode(h, forKey: .h)
        }
    }
}

/// An engine by its name (`luma/ray-2`, `fal/<model id>`), as shot lists, the database and the wire write it.
extension Engine: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let name = try c.decode(String.self)
        guard let engine = Engine(name: name) else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "is \"\(name)\", not an engine keyfarm knows (\(Engine.knownNames.joined(separator: ", ")))")
        }
        self = engine
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}
