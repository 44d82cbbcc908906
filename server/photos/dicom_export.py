"""Export a stored skin photo as a DICOM VL Photographic Image - pure, bytes out.

SOP Class 1.2.840.10008.5.1.4.1.1.77.1.4 (VL Photographic Image Storage),
Modality XC (external-camera photography), written with pydicom as a Part 10
file.  Dataclasses in, ``bytes`` out; no I/O, no database, no clock (the output
is a function of the input: exporting the same photo twice gives the same
bytes, so a PACS sees the same instance, not a duplicate).

Identifiers
===========
UIDs are derived deterministically from our ids, so a re-export of the same
photo keeps its SOP Instance UID and all photos of a consult share one study:

* study  = the consult (``consult_id``);
* series = one body site and laterality within the consult (Body Part Examined
  and laterality are series-level in DICOM, so mixing sites in one series
  would be wrong);
* instance = the photo (``photo_id``).

With ``ExportOptions.uid_root`` set (the hospital's registered root, ending in
"."), UIDs are ``pydicom.uid.generate_uid(prefix=root, entropy_srcs=[namespace,
kind, id])`` - a SHA-512 of the sources under that root.  Without one they are
UUID-derived UIDs under the ``2.25`` arc (ISO/IEC 9834-8, no registration
needed): ``2.25.<uuid5(namespace/kind/id) as an integer>``.  ``uid_namespace``
must differ between deployments that could feed the same archive.  Demographic
corrections keep the UIDs (usual practice); a photo whose pixels change is a new
photo with a new ``photo_id``.

Pixels
======
Default: uncompressed RGB (Explicit VR Little Endian) of the upright image -
universally readable, but 3 bytes per pixel (36 MB for a 12 MP still).
``PixelEncoding.ORIGINAL_JPEG`` encapsulates the guardian's original JPEG as is
(JPEG Baseline transfer syntax, no re-encoding, so no further loss and ~10x
smaller) when that is possible without changing what a viewer shows: a
baseline 8-bit 3-component YCbCr JPEG with 4:4:4, 4:2:2 or 4:2:0 sampling and
no EXIF rotation (DICOM has no orientation flag for photographs).  Application
segments (EXIF with its GPS position, XMP, ICC) and comments are dropped from
the copy; entropy-coded data is copied byte for byte.  Anything else falls
back to RGB.

Lossy Image Compression (0028,2110) is "01" whenever the pixels went through
lossy coding before they reached us (JPEG: ISO_10918_1; H.264 video:
ISO_14496_10; VP8 video or lossy WebP: "VP8", which is *not* one of DICOM's
defined terms - there is none for VP8).

Not done: the ICC profile of the original is not carried over (ICC Profile
module), so wide-gamut (Display P3) phone photos are shown as if sRGB.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum
from io import BytesIO
from typing import Literal

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    VLPhotographicImageStorage,
    generate_uid,
)
from pydicom.valuerep import PersonName

from server.photos.body_sites import BODY_SITES, Laterality, SiteSelection, SnomedCode
from server.photos.photo_intake import CaptureSource
from server.photos.photo_quality import (
    DecodedImage,
    ImageFormat,
    ImageHeader,
    decode_image_info,
    read_image_header,
)

VL_PHOTOGRAPHIC_IMAGE_STORAGE = VLPhotographicImageStorage  # 1.2.840.10008.5.1.4.1.1.77.1.4
PYDICOM_IMPLEMENTATION_VERSION_NAME = f"PYDICOM {pydicom.__version__}"[:16]

# A fixed namespace for the uuid5 derivation; changing it changes every UID.
_UID_NAMESPACE = uuid.UUID("7d0a5f0e-3f2b-5c59-9a55-73686f757a68")


class PixelEncoding(StrEnum):
    UNCOMPRESSED_RGB = "uncompressed_rgb"
    ORIGINAL_JPEG = "original_jpeg"


@dataclass(frozen=True)
class PatientInfo:
    """The child.  Names as recorded (Chinese characters); the romanised
    (pinyin) form, when known, becomes DICOM's alphabetic group and the
    characters its ideographic group ("Zhang^Xiaoming=张^小明")."""

    patient_id: str
    family_name: str
    given_name: str
    sex: Literal["M", "F", "O"] | None = None
    birth_date: date | None = None
    romanized_family_name: str | None = None
    romanized_given_name: str | None = None
    issuer_of_patient_id: str | None = None


@dataclass(frozen=True)
class StudyInfo:
    """The consult.  Datetimes should be timezone-aware (DICOM gets local
    date/time plus Timezone Offset From UTC); naive ones are written as given.
    ``timezone`` is the hospital's: aware datetimes (the study's and the photo's)
    are written as its wall clock, so StudyDate and PatientAge are the hospital's
    calendar day, not UTC's (a consult at 07:30 in Beijing is 23:30 UTC the day
    before)."""

    consult_id: str
    started_at: datetime
    description: str = "Paediatric dermatology teleconsultation"
    accession_number: str | None = None
    physician_name: str | None = None  # the consulting physician, as recorded
    timezone: tzinfo | None = None

    def local(self, moment: datetime) -> datetime:
        if self.timezone is None or moment.tzinfo is None:
            return moment
        return moment.astimezone(self.timezone)


@dataclass(frozen=True)
class PhotoInfo:
    """One stored photo.  ``image`` is the stored bytes (JPEG/PNG/WebP, as
    kept by photo intake) or a BGR uint8 array (OpenCV order, e.g.
    ``StillFrame.array``).  For an array, ``lossy_method`` says whether and how
    it was lossily coded before (None: never); for a stream still it defaults
    from ``stream_codec``."""

    photo_id: str
    image: bytes | npt.NDArray[np.uint8]
    site: SiteSelection
    source: CaptureSource
    acquired_at: datetime
    instance_number: int = 1
    stream_codec: str | None = None  # "vp8" / "h264" when source is STREAM
    device_description: str | None = None  # camera label / browser, free text
    quality_flags: tuple[str, ...] = ()
    lossy_method: str | None = None


@dataclass(frozen=True)
class ExportOptions:
    uid_root: str | None = None  # e.g. the hospital's "1.2.156.xxxxx." ; None -> 2.25 UIDs
    uid_namespace: str = "shouzhen"
    institution_name: str | None = None
    software_versions: str = "shouzhen 0.1.0"
    pixel_encoding: PixelEncoding = PixelEncoding.UNCOMPRESSED_RGB
    max_pixels: int = 50_000_000
    max_bytes: int = 64 * 1024 * 1024


DEFAULT_EXPORT_OPTIONS = ExportOptions()


@dataclass(frozen=True)
class DicomUids:
    study: str
    series: str
    instance: str


def _derive_uid(kind: str, our_id: str, options: ExportOptions) -> str:
    if options.uid_root:
        sources = [options.uid_namespace, kind, our_id]
        return str(generate_uid(prefix=options.uid_root, entropy_srcs=sources))
    derived = uuid.uuid5(_UID_NAMESPACE, f"{options.uid_namespace}/{kind}/{our_id}")
    return f"2.25.{derived.int}"


def photo_uids(study: StudyInfo, photo: PhotoInfo, options: ExportOptions) -> DicomUids:
    """The UIDs ``export_photo`` writes, for the caller to store or index."""
    series_key = f"{study.consult_id}/{photo.site.site.code}/{photo.site.laterality}"
    return DicomUids(
        study=_derive_uid("study", study.consult_id, options),
        series=_derive_uid("series", series_key, options),
        instance=_derive_uid("instance", photo.photo_id, options),
    )


def _person_name(patient: PatientInfo) -> PersonName:
    if patient.romanized_family_name or patient.romanized_given_name:
        return PersonName.from_named_components(
            family_name=patient.romanized_family_name or "",
            given_name=patient.romanized_given_name or "",
            family_name_ideographic=patient.family_name,
            given_name_ideographic=patient.given_name,
            encodings=["utf-8"],
        )
    # No romanised form: the characters go in the first (alphabetic) group,
    # as Chinese PACS commonly expect under ISO_IR 192.
    return PersonName.from_named_components(
        family_name=patient.family_name, given_name=patient.given_name, encodings=["utf-8"]
    )


def _da(d: date) -> str:
    return d.strftime("%Y%m%d")


def _tm(t: datetime) -> str:
    return t.strftime("%H%M%S") + (f".{t.microsecond:06d}" if t.microsecond else "")


def _tz_offset(t: datetime) -> str | None:
    offset = t.utcoffset()
    if offset is None:
        return None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def patient_age(birth: date, on: date) -> str:
    """DICOM Age String: days under a month, months under two years, then years."""
    days = (on - birth).days
    if days < 0:
        raise ValueError("birth date after the study date")
    months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
    if months < 1:
        return f"{days:03d}D"
    if months < 24:
        return f"{months:03d}M"
    return f"{min(months // 12, 999):03d}Y"


def _code_item(code: SnomedCode) -> Dataset:
    item = Dataset()
    item.CodeValue = code.code
    item.CodingSchemeDesignator = code.scheme
    item.CodeMeaning = code.meaning
    return item


_ACQUISITION_TEXT = {
    CaptureSource.DEVICE: "Still photo from the guardian's device camera during the video consult",
    CaptureSource.STREAM: "Frame decoded from the guardian's {codec} video during the consult",
    CaptureSource.UPLOAD: "Image file uploaded by the guardian",
}

_LOSSY_METHOD_FOR_CODEC = {"h264": "ISO_14496_10", "vp8": "VP8"}


def _jpeg_for_encapsulation(data: bytes, header: ImageHeader) -> tuple[bytes, str] | None:
    """(JPEG without APPn/COM segments, photometric interpretation), or None
    when the original cannot be carried as JPEG Baseline unchanged."""
    if (
        header.format is not ImageFormat.JPEG
        or header.jpeg_sof != 0xC0
        or header.jpeg_precision != 8
        or len(header.jpeg_sampling) != 3
        or header.exif_orientation != 1
        or header.jpeg_adobe_transform == 0  # Adobe says RGB, not YCbCr
        or header.jpeg_scan_offset is None
    ):
        return None
    (y_h, y_v), cb, cr = header.jpeg_sampling
    if cb != (1, 1) or cr != (1, 1):
        return None
    if (y_h, y_v) == (1, 1):
        photometric = "YBR_FULL"
    elif (y_h, y_v) in ((2, 1), (2, 2)):
        # PS3.5 8.2.1: subsampled lossy JPEG is YBR_FULL_422 (used for 4:2:0 too).
        photometric = "YBR_FULL_422"
    else:
        return None
    out = bytearray(b"\xff\xd8")
    pos = 2
    while pos < header.jpeg_scan_offset:
        while data[pos] == 0xFF and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if not (0xE1 <= marker <= 0xEF or marker == 0xFE):  # keep APP0 (JFIF), tables, SOF
            out += data[pos:end]
        pos = end
    out += data[header.jpeg_scan_offset : header.end_offset]
    return bytes(out), photometric


def _lossy_method(photo: PhotoInfo, header: ImageHeader | None) -> str | None:
    if photo.lossy_method is not None:
        return photo.lossy_method
    if photo.source is CaptureSource.STREAM:
        codec = (photo.stream_codec or "").lower()
        return _LOSSY_METHOD_FOR_CODEC.get(codec, "VIDEO")
    if header is None or not header.lossy:
        return None
    return "ISO_10918_1" if header.format is ImageFormat.JPEG else "VP8"


def _upright_rgb(
    photo: PhotoInfo, options: ExportOptions
) -> tuple[npt.NDArray[np.uint8], ImageHeader | None]:
    if isinstance(photo.image, bytes | bytearray | memoryview):
        decoded: DecodedImage = decode_image_info(
            bytes(photo.image), max_pixels=options.max_pixels, max_bytes=options.max_bytes
        )
        bgr, header = decoded.image, decoded.header
    else:
        bgr, header = photo.image, None
        if bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
            raise ValueError(f"expected a BGR uint8 array, got {bgr.dtype} {bgr.shape}")
    return np.ascontiguousarray(bgr[..., ::-1]), header


def export_photo(
    patient: PatientInfo,
    study: StudyInfo,
    photo: PhotoInfo,
    options: ExportOptions = DEFAULT_EXPORT_OPTIONS,
) -> bytes:
    """The photo as a DICOM Part 10 file (VL Photographic Image)."""
    uids = photo_uids(study, photo, options)
    site, laterality = photo.site.site, photo.site.laterality

    header: ImageHeader | None = None
    jpeg: tuple[bytes, str] | None = None
    wants_jpeg = options.pixel_encoding is PixelEncoding.ORIGINAL_JPEG
    if wants_jpeg and isinstance(photo.image, bytes | bytearray | memoryview):
        header = read_image_header(bytes(photo.image), max_bytes=options.max_bytes)
        if header.pixels <= options.max_pixels:  # else the RGB path refuses it
            jpeg = _jpeg_for_encapsulation(bytes(photo.image), header)

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: Chinese names and descriptions
    # SOP Common
    ds.SOPClassUID = VL_PHOTOGRAPHIC_IMAGE_STORAGE
    ds.SOPInstanceUID = uids.instance
    started_at, acquired_at = study.local(study.started_at), study.local(photo.acquired_at)
    tz = _tz_offset(acquired_at) or _tz_offset(started_at)
    if tz:
        ds.TimezoneOffsetFromUTC = tz
    # Patient
    ds.PatientName = _person_name(patient)
    ds.PatientID = patient.patient_id
    if patient.issuer_of_patient_id:
        ds.IssuerOfPatientID = patient.issuer_of_patient_id
    ds.PatientBirthDate = _da(patient.birth_date) if patient.birth_date else ""
    ds.PatientSex = patient.sex or ""
    # General Study / Patient Study
    ds.StudyInstanceUID = uids.study
    ds.StudyDate = _da(started_at)
    ds.StudyTime = _tm(started_at)
    ds.ReferringPhysicianName = ""
    ds.StudyID = study.consult_id[:16]
    ds.AccessionNumber = study.accession_number or ""
    ds.StudyDescription = study.description
    if patient.birth_date:
        ds.PatientAge = patient_age(patient.birth_date, started_at.date())
    # General Series
    ds.Modality = "XC"
    ds.SeriesInstanceUID = uids.series
    ds.SeriesNumber = _series_number(photo.site)
    ds.SeriesDescription = _series_description(photo.site)
    if site.dicom_body_part:
        ds.BodyPartExamined = site.dicom_body_part
    if study.physician_name:
        ds.PerformingPhysicianName = study.physician_name
    # General Equipment
    ds.Manufacturer = ""
    if photo.device_description:
        ds.ManufacturerModelName = photo.device_description[:64]
    if options.institution_name:
        ds.InstitutionName = options.institution_name
    ds.SoftwareVersions = options.software_versions
    # General Image
    ds.InstanceNumber = photo.instance_number
    ds.PatientOrientation = ""
    ds.ContentDate = _da(acquired_at)
    ds.ContentTime = _tm(acquired_at)
    ds.AcquisitionDateTime = acquired_at.strftime("%Y%m%d%H%M%S") + (tz or "")
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ImageLaterality = laterality.dicom
    ds.BurnedInAnnotation = "NO"
    if site.identifiable:
        ds.RecognizableVisualFeatures = "YES"
    if photo.quality_flags:
        ds.ImageComments = "Quality flags: " + ", ".join(photo.quality_flags)
    # Acquisition Context (the sequence is Type 2: present, empty)
    ds.AcquisitionContextSequence = Sequence()
    text = _ACQUISITION_TEXT[photo.source].format(codec=(photo.stream_codec or "video").upper())
    ds.AcquisitionContextDescription = f"{text}; view: {photo.site.view.name_en}"
    # VL Image: anatomic region, coded, with the side as a modifier
    if site.snomed is not None:
        region = _code_item(site.snomed)
        side = laterality.snomed
        if side is not None:
            region.AnatomicRegionModifierSequence = Sequence([_code_item(side)])
        ds.AnatomicRegionSequence = Sequence([region])

    # Image Pixel
    ds.SamplesPerPixel = 3
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PlanarConfiguration = 0
    if jpeg is not None and header is not None:
        frame, photometric = jpeg
        ds.PhotometricInterpretation = photometric
        ds.Rows, ds.Columns = header.height, header.width
        ds.PixelData = encapsulate([frame])
        ds["PixelData"].VR = "OB"
        transfer_syntax: UID = JPEGBaseline8Bit
    else:
        rgb, header = _upright_rgb(photo, options)
        ds.PhotometricInterpretation = "RGB"
        ds.Rows, ds.Columns = int(rgb.shape[0]), int(rgb.shape[1])
        ds.PixelData = rgb.tobytes()
        ds["PixelData"].VR = "OB"
        transfer_syntax = ExplicitVRLittleEndian
    method = _lossy_method(photo, header)
    ds.LossyImageCompression = "01" if method else "00"
    if method:
        ds.LossyImageCompressionMethod = method

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = VL_PHOTOGRAPHIC_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = UID(uids.instance)
    meta.TransferSyntaxUID = transfer_syntax
    # The writing implementation is pydicom: its class UID and version name.
    meta.ImplementationClassUID = UID(PYDICOM_IMPLEMENTATION_UID)
    meta.ImplementationVersionName = PYDICOM_IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta

    buffer = BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


_SITE_INDEX = {code: i for i, code in enumerate(BODY_SITES)}
_LATERALITY_INDEX = {lat: i for i, lat in enumerate(Laterality)}


def _series_description(selection: SiteSelection) -> str:
    site, side = selection.site, selection.laterality
    if side is Laterality.MIDLINE:
        return f"{site.name_zh} / {site.name_en}"
    return f"{side.name_zh}{site.name_zh} / {side.name_en} {site.name_en}"


def _series_number(selection: SiteSelection) -> int:
    """Stable per (site, side): the site's place in the list, then the side."""
    return (_SITE_INDEX[selection.site.code] + 1) * 10 + _LATERALITY_INDEX[selection.laterality]
