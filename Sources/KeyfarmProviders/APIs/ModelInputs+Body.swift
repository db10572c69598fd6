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
    func body(_ request: VideoRequest, engine: Engine) throws(ProviderErrorClassifier.Verdict) -> [String: Any] {
        var body: [String: Any] = ["prompt": request.prompt]
        switch durationValue(seconds: request.seconds) {
        case .integer(let seconds): body["duration"] = seconds
        case .text(let text): body["duration"] = text
        }
        if let value = resolutionValue(resolution: request.resolution, aspect: request.aspect) {
            body[resolutionField.rawValue] = value
        }
        if let aspectField { body[aspectField] = request.aspect }
        if let start = request.start?.urlOrDataURI {
            guard let startField else {
                throw ProviderErrorClassifier.Verdict(
                    errorClass: .invalid,
                    message: "\(engine) takes no start image (its start field is none); use an image-to-video model for a segment that starts on an image")
            }
            body[startField] = start
        }
        if let end = request.end?.urlOrDataURI {
            guard let endField else {
                throw ProviderErrorClassifier.Verdict(
                    errorClass: .invalid,
                    message: "\(engine) has no known end-frame field, so the segment cannot end on its keyframe; add the model's mapping with `keyfarm providers model set \(engine) --end-field FIELD ...` and submit again")
            }
            body[endField] = end
        }
        return body
    }
}
