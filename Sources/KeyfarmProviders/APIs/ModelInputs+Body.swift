import Foundation
import KeyfarmCore

extension ModelInputs {
    /// The inputs an adapter builds a fal or WaveSpeed body from: the request's own (the job
    /// spec's `model_inputs`, which carries an operator's mapping), else the built-in table's,
    /// else the provider's usual start field and no end frame.
    static func resolved(for request: VideoRequest, engine: Engine) -> ModelInputs {
        request.inputs ?? ModelInputTable.builtIn.inputs(for: engine) ?? ModelInputTable.fallback(for: engine)
            ?? ModelInputs(startField: "image", endField: nil, duration: .integer)
    }

    /// The body of a create request for a model with these inputs: prompt, duration, the
    /// resolution or size, the aspect ratio, and the keyframes under the model's own names.
    /// An end image the model has no field for is refused: sent under a guessed name it would
    /// be ignored, and the clip would not end on its keyframe.
    func body(_ request: VideoRequest, engine: Engine) throws(ProviderErrorClassifier.Verdict) -> ModelBody {
        var body = ModelBody(prompt: request.prompt, duration: durationValue(seconds: request.seconds))
        if let value = resolutionValue(resolution: request.resolution, aspect: request.aspect) {
            body.resolution = ModelBody.Field(resolutionField.rawValue, value)
        }
        if let aspectField { body.aspectRatio = ModelBody.Field(aspectField, request.aspect) }
        if let start = request.start?.urlOrDataURI {
            guard let startField else {
                throw ProviderErrorClassifier.Verdict(
                    errorClass: .invalid,
                    message: "\(engine) takes no start image (its start field is none); use an image-to-video model for a segment that starts on an image")
            }
            body.start = ModelBody.Field(startField, start)
        }
        if let end = request.end?.urlOrDataURI {
            guard let endField else {
                throw ProviderErrorClassifier.Verdict(
                    errorClass: .invalid,
                    message: "\(engine) has no known end-frame field, so the segment cannot end on its keyframe; add the model's mapping with `keyfarm providers model set \(engine) --end-field FIELD ...` and submit again")
            }
            body.end = ModelBody.Field(endField, end)
        }
        return body
    }
}

/// The body of a fal or WaveSpeed create: the prompt and the duration, and the fields each
/// model names its own way (`ModelInputs`: `image_url` or `start_image_url`, `resolution` or
/// `size`, ...), which is why their names are data here and not properties.
public struct ModelBody: Encodable, Sendable, Equatable {
    /// One input under the model's own name; its value is a string (a URL or data URI, `720p`, `16:9`).
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var prompt: String
    /// A number or a string, as the model writes a clip length.
    public var duration: ModelInputs.DurationValue
    /// `resolution: 720p` or `size: 1280*720`.
    public var resolution: Field?
    public var aspectRatio: Field?
    public var start: Field?
    public var end: Field?

    public init(prompt: String, duration: ModelInputs.DurationValue) {
        self.prompt = prompt
        self.duration = duration
    }

    /// The value sent under `name`, if any.
    public subscript(name: String) -> String? {
        [resolution, aspectRatio, start, end].compactMap { $0 }.last { $0.name == name }?.value
    }

    struct Name: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Name.self)
        try c.encode(prompt, forKey: Name("prompt"))
        try c.encode(duration, forKey: Name("duration"))
        // In this order: a model whose mapping names one field twice gets the later value.
        for field in [resolution, aspectRatio, start, end].compactMap({ $0 }) {
            try c.encode(field.value, forKey: Name(field.name))
        }
    }
}
