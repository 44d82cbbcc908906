// The one string catalogue of every page: Simplified Chinese first, English second.
// Keys are stable; pages use data-i18n="key" attributes or t("key").
export const STRINGS = {
  "app.name": { zh: "首诊", en: "shouzhen" },
  "app.tagline": { zh: "儿童互联网首诊视频问诊平台", en: "First-visit paediatric video consults" },
  "lang.switch": { zh: "English", en: "中文" },
  "landing.what": {
    zh: "本平台支持试点医院在儿童生长发育、儿童营养、儿童皮肤科三个专科开展互联网首诊：医生与监护人及患儿视频问诊、诊断与开具处方；不适合线上诊疗时转线下就诊。问诊全程录音录像并留痕，供审计追溯。",
    en: "This platform lets pilot hospitals hold first online visits in child growth & development, child nutrition and paediatric dermatology: the physician sees the child with a guardian by video, diagnoses and prescribes, and refers the family to an in-person visit when a case is unsuitable online. Every consult is recorded and traceable for audit.",
  },
  "landing.join.title": { zh: "参加问诊", en: "Join a consult" },
  "landing.join.help": {
    zh: "请打开医院发给您的问诊链接（短信或微信）。链接只对本次问诊有效。",
    en: "Open the consult link the hospital sent you (SMS or WeChat). A link is valid for that consult only.",
  },
  "landing.join.paste": { zh: "或粘贴链接：", en: "Or paste the link:" },
  "landing.join.go": { zh: "进入", en: "Join" },
  "landing.join.bad": { zh: "这不是有效的问诊链接。", en: "This is not a valid consult link." },
  "landing.staff.title": { zh: "医院工作人员", en: "Hospital staff" },
  "landing.staff.api": { zh: "接口文档（OpenAPI）", en: "API document (OpenAPI)" },
  "landing.rules.title": { zh: "试点规则", en: "Pilot rules" },
  "landing.rules.physician": {
    zh: "接诊医生须在医院白名单内：独立执业满3年、主治医师及以上职称、互联网复诊满1年，并通过培训考核。",
    en: "Physicians must be on the hospital whitelist: ≥3 years' independent practice, attending title or above, ≥1 year of internet consults, trained and examined.",
  },
  "landing.rules.guardian": { zh: "问诊时须有监护人陪同患儿。", en: "A guardian must be with the child." },
  "landing.rules.record": { zh: "问诊全程录音录像，音视频至少保存3年，病历至少保存15年。", en: "Consults are recorded; audio/video kept ≥3 years, medical records ≥15 years." },
};
