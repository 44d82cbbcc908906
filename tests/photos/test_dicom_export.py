"""DICOM VL Photographic Image export, and the body-site table it codes from."""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from io import BytesIO
from typing import Any, cast
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.sr import _concepts_dict
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGBaseline8Bit

from server.photos.body_sites import (
    BODY_SITES,
    PAIRED,
    InvalidBodySite,
    Laterality,
    View,
    validate_site,
)
from server.photos.dicom_export import (
    VL_PHOTOGRAPHIC_IMAGE_STORAGE,
    ExportOptions,
    PatientInfo,
    PhotoInfo,
    PixelEncoding,
    StudyInfo,
    export_photo,
    patient_age,
    photo_uids,
)
from server.photos.photo_intake import CaptureSource
from server.photos.photo_quality import decode_image

BEIJING = timezone(timedelta(hours=8))
PATIENT = PatientInfo(
    patient_id="HOSP-000123",
    family_name="张",
    given_name="小明",
    sex="M",
    birth_date=date(2023, 5, 1),
    romanized_family_name="Zhang",
    romanized_given_name="Xiaoming",
    issuer_of_patient_id="Demo Children's Hospital",
)
STUDY = StudyInfo(
    consult_id="c0ffee00-1111-2222-3333-444455556666",
    started_at=datetime(2026, 11, 20, 10, 0, tzinfo=BEIJING),
    physician_name="李^华",
)
LIMITS: dict[str, Any] = {"max_pixels": 10**7, "max_bytes": 10**7}


def _image(w: int = 160, h: int = 120) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    img = np.asarray(cv2.GaussianBlur(noise, (0, 0), 1.5), np.uint8)
    img[: h // 4, : w // 4] = (0, 0, 255)  # asymmetric: orientation is visible
    return img


def _photo(image: bytes | npt.NDArray[np.uint8], **changes: object) -> PhotoInfo:
    base = PhotoInfo(
        photo_id="photo-0001",
        image=image,
        site=validate_site("forearm", "left", "close_up"),
        source=CaptureSource.DEVICE,
        acquired_at=datetime(2026, 11, 20, 10, 7, 30, tzinfo=BEIJING),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(BytesIO(data))


def _jpeg(img: npt.NDArray[np.uint8], *params: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92, *params])
    assert ok
    return buf.tobytes()


def _with_exif(jpeg: bytes, orientation: int, gps: bool = False) -> bytes:
    entries = [struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)]
    if gps:
        entries.append(struct.pack("<HHII", 0x8825, 4, 1, 8 + 2 + 24 + 4))
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)) + b"".join(entries)
    tiff += struct.pack("<I", 0) + (struct.pack("<HI", 0, 0) if gps else b"")
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


# --- the export ------------------------------------------------------------------


def test_array_export_parses_with_the_right_class_patient_site_and_pixels() -> None:
    img = _image()
    ds = _read(
        export_photo(PATIENT, STUDY, _photo(img, source=CaptureSource.STREAM, stream_codec="vp8"))
    )

    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4" == VL_PHOTOGRAPHIC_IMAGE_STORAGE
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.Modality == "XC"
    # patient: the child
    assert ds.PatientID == "HOSP-000123"
    assert ds.PatientName.family_name == "Zhang" and ds.PatientName.given_name == "Xiaoming"
    assert ds.PatientName.ideographic == "张^小明"
    assert ds.PatientSex == "M" and ds.PatientBirthDate == "20230501"
    assert ds.PatientAge == "003Y"
    # body site: coded region with the side as a modifier, and laterality
    region = ds.AnatomicRegionSequence[0]
    assert (region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning) == (
        "14975008",
        "SCT",
        "Forearm",
    )
    assert region.AnatomicRegionModifierSequence[0].CodeValue == "7771000"  # Left
    assert ds.ImageLaterality == "L"
    assert ds.BodyPartExamined == "FOREARM"
    assert ds.SeriesDescription == "左侧前臂 / left forearm"
    # study/time context
    assert ds.StudyDate == "20261120" and ds.StudyTime == "100000"
    assert ds.ContentTime == "100730" and ds.TimezoneOffsetFromUTC == "+0800"
    assert "VP8 video" in ds.AcquisitionContextDescription
    assert "close-up" in ds.AcquisitionContextDescription
    # pixels: RGB, equal to the (BGR) input
    assert ds.PhotometricInterpretation == "RGB" and ds.SamplesPerPixel == 3
    assert (ds.Rows, ds.Columns) == img.shape[:2]
    assert np.array_equal(ds.pixel_array, img[..., ::-1])
    assert ds.LossyImageCompression == "01" and ds.LossyImageCompressionMethod == "VP8"


def test_jpeg_with_exif_rotation_is_exported_upright_and_marked_lossy() -> None:
    data = _with_exif(_jpeg(_image()), orientation=6)
    ds = _read(export_photo(PATIENT, STUDY, _photo(data)))
    upright = decode_image(data, **LIMITS)
    assert (ds.Rows, ds.Columns) == (160, 120)  # rotated a quarter turn
    assert np.array_equal(ds.pixel_array, upright[..., ::-1])
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    assert "device camera" in ds.AcquisitionContextDescription


def test_png_is_exported_losslessly() -> None:
    img = _image()
    _ok, png = cv2.imencode(".png", img)
    ds = _read(export_photo(PATIENT, STUDY, _photo(png.tobytes(), source=CaptureSource.UPLOAD)))
    assert np.array_equal(ds.pixel_array, img[..., ::-1])
    assert ds.LossyImageCompression == "00" and "LossyImageCompressionMethod" not in ds


@pytest.mark.parametrize(
    ("sampling", "photometric"),
    [
        ([], "YBR_FULL_422"),  # OpenCV's default 4:2:0
        ([cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444], "YBR_FULL"),
    ],
)
def test_original_jpeg_is_encapsulated_unchanged_without_its_exif(
    sampling: list[int], photometric: str
) -> None:
    plain = _jpeg(_image(), *sampling)
    with_gps = _with_exif(plain, orientation=1, gps=True)
    options = ExportOptions(pixel_encoding=PixelEncoding.ORIGINAL_JPEG)
    out = export_photo(PATIENT, STUDY, _photo(with_gps), options)
    ds = _read(out)
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert ds.PhotometricInterpretation == photometric
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    # The entropy-coded image is the original's, byte for byte; the EXIF
    # segment (with the GPS position) is gone from the export.
    assert frame[: len(plain)] == plain
    assert b"Exif\x00\x00" not in out
    decoded = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert np.array_equal(decoded, decode_image(plain, **LIMITS))
    assert (ds.Rows, ds.Columns) == (120, 160)
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"


@pytest.mark.parametrize(
    "data",
    [
        _with_exif(_jpeg(_image()), orientation=6),  # a rotation DICOM cannot express
        _jpeg(_image(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1),  # not baseline
    ],
)
def test_jpeg_that_cannot_be_carried_as_is_falls_back_to_rgb(data: bytes) -> None:
    options = ExportOptions(pixel_encoding=PixelEncoding.ORIGINAL_JPEG)
    ds = _read(export_photo(PATIENT, STUDY, _photo(data), options))
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(ds.pixel_array, decode_image(data, **LIMITS)[..., ::-1])


def test_export_is_deterministic_and_uids_follow_our_ids() -> None:
    img = _image()
    a = export_photo(PATIENT, STUDY, _photo(img))
    assert export_photo(PATIENT, STUDY, _photo(img)) == a
    first, other = _read(a), _read(export_photo(PATIENT, STUDY, _photo(img, photo_id="photo-0002")))
    assert first.StudyInstanceUID == other.StudyInstanceUID  # same consult
    assert first.SeriesInstanceUID == other.SeriesInstanceUID  # same site and side
    assert first.SOPInstanceUID != other.SOPInstanceUID
    right = _read(
        export_photo(
            PATIENT, STUDY, _photo(img, site=validate_site("forearm", "right", "overview"))
        )
    )
    assert right.SeriesInstanceUID != first.SeriesInstanceUID
    for uid in (first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID):
        assert uid.startswith("2.25.") and UID(uid).is_valid
    uids = photo_uids(STUDY, _photo(img), ExportOptions())
    assert uids.instance == first.SOPInstanceUID


def test_uid_root_and_namespace_are_used() -> None:
    root = "1.2.826.0.1.3680043.10.1234."
    ds = _read(export_photo(PATIENT, STUDY, _photo(_image()), ExportOptions(uid_root=root)))
    assert ds.SOPInstanceUID.startswith(root) and UID(ds.SOPInstanceUID).is_valid
    elsewhere = photo_uids(STUDY, _photo(_image()), ExportOptions(uid_namespace="other-hospital"))
    assert elsewhere.instance != photo_uids(STUDY, _photo(_image()), ExportOptions()).instance


def test_midline_and_uncoded_sites() -> None:
    img = _image()
    ds = _read(
        export_photo(
            PATIENT, STUDY, _photo(img, site=validate_site("abdomen", "midline", "overview"))
        )
    )
    assert ds.ImageLaterality == "U"
    assert "AnatomicRegionModifierSequence" not in ds.AnatomicRegionSequence[0]
    assert ds.BodyPartExamined == "ABDOMEN"
    nappy = _read(
        export_photo(
            PATIENT, STUDY, _photo(img, site=validate_site("diaper_area", None, "overview"))
        )
    )
    assert "AnatomicRegionSequence" not in nappy and "BodyPartExamined" not in nappy
    assert nappy.SeriesDescription == "尿布区 / nappy area"


def test_face_photos_are_marked_recognizable() -> None:
    ds = _read(
        export_photo(
            PATIENT, STUDY, _photo(_image(), site=validate_site("cheek", "right", "close_up"))
        )
    )
    assert ds.RecognizableVisualFeatures == "YES"
    assert "RecognizableVisualFeatures" not in _read(export_photo(PATIENT, STUDY, _photo(_image())))


def test_minimal_patient_and_naive_times() -> None:
    patient = PatientInfo(patient_id="P9", family_name="王", given_name="小红")
    study = StudyInfo(consult_id="c9", started_at=datetime(2026, 1, 2, 9, 30))
    photo = _photo(_image(), acquired_at=datetime(2026, 1, 2, 9, 31))
    ds = _read(export_photo(patient, study, photo))
    assert str(ds.PatientName) == "王^小红"
    assert ds.PatientSex == "" and ds.PatientBirthDate == ""
    assert "PatientAge" not in ds and "TimezoneOffsetFromUTC" not in ds


def test_dates_are_the_hospitals_calendar_day_not_utcs() -> None:
    """A consult at 07:30 in Beijing is 23:30 UTC the day before: with the hospital's zone, the
    study, the photo and the child's age all fall on the Beijing day."""
    patient = PatientInfo(patient_id="P8", family_name="李", given_name="小宝",
                          birth_date=date(2025, 11, 20))
    started = datetime(2026, 11, 19, 23, 30, tzinfo=UTC)
    study = StudyInfo(consult_id="c8", started_at=started, timezone=ZoneInfo("Asia/Shanghai"))
    ds = _read(export_photo(patient, study, _photo(
        _image(), acquired_at=started + timedelta(minutes=5))))
    assert (ds.StudyDate, ds.StudyTime) == ("20261120", "073000")
    assert (ds.ContentDate, ds.ContentTime) == ("20261120", "073500")
    assert ds.AcquisitionDateTime == "20261120073500+0800"
    assert ds.TimezoneOffsetFromUTC == "+0800"
    assert ds.PatientAge == "012M"  # one year old that Beijing day (11 months on UTC's)


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(2026, 11, 1), date(2026, 11, 20), "019D"),
        (date(2026, 5, 21), date(2026, 11, 20), "005M"),
        (date(2025, 1, 1), date(2026, 11, 20), "022M"),
        (date(2020, 11, 21), date(2026, 11, 20), "005Y"),
        (date(2020, 11, 20), date(2026, 11, 20), "006Y"),
    ],
)
def test_patient_age_string(birth: date, on: date, age: str) -> None:
    assert patient_age(birth, on) == age


def test_utc_times_carry_a_zero_offset() -> None:
    study = replace(STUDY, started_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    photo = _photo(_image(), acquired_at=datetime(2026, 11, 20, 2, 5, tzinfo=UTC))
    assert _read(export_photo(PATIENT, study, photo)).TimezoneOffsetFromUTC == "+0000"


# --- the body-site table ------------------------------------------------------------


def _dicom_sct_meanings() -> dict[str, set[str]]:
    meanings: dict[str, set[str]] = {}
    sct = cast(dict[str, dict[str, tuple[str, list[int]]]], _concepts_dict.concepts["SCT"])
    for by_code in sct.values():
        for code, (meaning, _cids) in by_code.items():
            meanings.setdefault(code, set()).add(meaning)
    return meanings


def test_every_snomed_code_is_in_dicoms_dictionary_with_that_meaning() -> None:
    known = _dicom_sct_meanings()
    codes = [s.snomed for s in BODY_SITES.values() if s.snomed] + [
        lat.snomed for lat in Laterality if lat.snomed
    ]
    for code in codes:
        assert code is not None
        assert code.meaning in known.get(code.code, set()), code


def test_site_table_is_complete_and_unique() -> None:
    assert len(BODY_SITES) == len({s.code for s in BODY_SITES.values()})
    for site in BODY_SITES.values():
        assert site.name_zh and site.name_en and site.lateralities
        assert site.code == site.code.lower() and " " not in site.code
    for needed in ("scalp", "cheek", "neck", "chest", "abdomen", "upper_back", "lower_back",
                   "upper_arm", "forearm", "palm", "hand_dorsum", "thigh", "lower_leg", "sole",
                   "diaper_area", "genitals", "perioral", "ear"):  # fmt: skip
        assert needed in BODY_SITES


def test_validate_site() -> None:
    sel = validate_site("forearm", "left", "close_up")
    assert (sel.site.code, sel.laterality, sel.view) == ("forearm", Laterality.LEFT, View.CLOSE_UP)
    assert sel.label_zh == "左侧前臂（近景特写）" and sel.label_en == "left forearm (close-up)"
    # an unpaired site takes its only laterality
    assert validate_site("nose", None, "overview").laterality is Laterality.MIDLINE
    assert BODY_SITES["hand_dorsum"].lateralities == PAIRED
    cases = [
        (("elbow_pit", "left", "overview"), "unknown_site"),
        (("forearm", None, "overview"), "laterality_required"),
        (("forearm", "midline", "overview"), "laterality_not_allowed"),
        (("nose", "left", "overview"), "laterality_not_allowed"),
        (("forearm", "up", "overview"), "unknown_laterality"),
        (("forearm", "left", "panorama"), "unknown_view"),
    ]
    for args, code in cases:
        with pytest.raises(InvalidBodySite) as err:
            validate_site(*args)
        assert err.value.code == code
