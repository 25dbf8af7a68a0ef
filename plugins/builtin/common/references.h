// Citations the built-in modules attach to their prompts (v1::Reference).
// One place, so every prompt cites a source the same way. The sources and
// the numbers taken from them are summarised in
// /work/shared/design/CLINICAL.md.
#ifndef ATTUNE_PLUGINS_BUILTIN_COMMON_REFERENCES_H_
#define ATTUNE_PLUGINS_BUILTIN_COMMON_REFERENCES_H_

namespace attune::builtin::refs {

inline constexpr char kFlueckiger2018[] =
    "Flückiger, Del Re, Wampold & Horvath 2018, Psychotherapy 55(4): "
    "alliance-outcome r = .278";
inline constexpr char kEubanksCarter2015[] =
    "Eubanks-Carter, Muran & Safran 2015: missed ruptures and dropout";
inline constexpr char kSafran2011[] =
    "Safran, Muran & Eubanks-Carter 2011: rupture repair and outcome, "
    "r = .24";
inline constexpr char kGumz2012[] =
    "Gumz et al. 2012: rupture-repair criteria of 1 SD and 2 SD (after "
    "Stiles et al. 2004; Strauss et al. 2006)";
inline constexpr char kSafranMuranMarkers[] =
    "Safran & Muran: withdrawal and confrontation rupture markers";
inline constexpr char kSwift2012[] =
    "Swift & Greenberg 2012: premature termination 19.7% (669 studies)";
inline constexpr char kSharf2010[] =
    "Sharf, Primavera & Diener 2010: weak alliance predicts dropout, "
    "d = .55";
inline constexpr char kArdito2011[] =
    "Ardito & Rabellino 2011: the alliance forms in the first sessions";
inline constexpr char kStevens2007[] =
    "Stevens et al. 2007: local rupture-repair patterns, no fixed global "
    "shape";
inline constexpr char kTryon2007[] =
    "Tryon, Blackwell & Hammel 2007: clients rate the alliance higher than "
    "therapists, d = .63";
inline constexpr char kBordin1979[] =
    "Bordin 1979: the alliance as bond, agreement on goals and agreement on "
    "tasks";
inline constexpr char kHatcher2006[] =
    "Hatcher & Gillaspy 2006, Psychotherapy Research 16(1): WAI-SR";
inline constexpr char kDuncan2003[] =
    "Duncan, Miller, Sparks et al. 2003: Session Rating Scale";
inline constexpr char kDeJong2021[] =
    "de Jong et al. 2021: feedback helps not-on-track clients most";
inline constexpr char kRognstad2023[] =
    "Rognstad et al. 2023: routine outcome monitoring and feedback";
inline constexpr char kMhaAllianceQualities[] =
    "Mental Health Academy, \"Essential Qualities in the Therapeutic "
    "Alliance\": the fatigued therapist";
inline constexpr char kRogersQualities[] =
    "Rogers 1957: empathy, genuineness and unconditional positive regard";

}  // namespace attune::builtin::refs

#endif  // ATTUNE_PLUGINS_BUILTIN_COMMON_REFERENCES_H_
