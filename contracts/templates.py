"""Chinese contract text for the three contract types.

One dict of ``str.format`` templates; :mod:`contracts.render` decides which paragraphs a
contract needs. The wording follows the structure of the MOHRSS model labour contract
(劳动合同示范文本) and the clauses LCL Art. 17 requires.
"""

from __future__ import annotations

ZH: dict[str, str] = {
    "title.fixed_term": "劳动合同书（固定期限）",
    "title.open_ended": "劳动合同书（无固定期限）",
    "title.task_based": "劳动合同书（以完成一定工作任务为期限）",
    "contract_no": "合同编号：{no}",
    "party.employer": "甲方（用人单位）：{name}",
    "party.domicile": "住所：{domicile}",
    "party.legal_rep": "法定代表人（主要负责人）：{rep}",
    "party.credit_code": "统一社会信用代码：{code}",
    "party.employer_phone": "联系电话：{phone}",
    "party.employee": "乙方（劳动者）：{name}",
    "party.id.resident_id": "居民身份证号码：{number}",
    "party.id.other": "有效身份证件号码：{number}",
    "party.address": "住址：{address}",
    "party.phone": "联系电话：{phone}",
    "preamble": (
        "根据《中华人民共和国劳动法》《中华人民共和国劳动合同法》等法律法规的规定，甲乙双方"
        "遵循合法、公平、平等自愿、协商一致、诚实信用的原则，订立本合同，共同遵守本合同所列条款。"
    ),
    "article": "第{n}条　{title}",
    # 1 term
    "term.title": "劳动合同期限",
    "term.fixed_term": "本合同为固定期限劳动合同，期限自{start}起至{end}止。",
    "term.open_ended": "本合同为无固定期限劳动合同，自{start}起履行。",
    "term.task_based": "本合同为以完成一定工作任务为期限的劳动合同，自{start}起至下列工作任务完成时止：{task}。",
    "term.probation": "其中试用期{months}个月，自{start}起至{end}止。试用期包含在劳动合同期限内。",
    "term.no_probation": "本合同不约定试用期。",
    # 2 job
    "job.title": "工作内容和工作地点",
    "job.text": "乙方的工作岗位为{position}，工作地点为{workplace}。乙方应按照甲方依法制定的岗位职责和要求，按时、按质、按量完成工作任务。",
    # 3 hours
    "hours.title": "工作时间和休息休假",
    "hours.standard": "甲方安排乙方实行标准工时制度，乙方每日工作时间不超过{daily}小时，每周工作时间不超过{weekly}小时，每周至少休息{rest}日。",
    "hours.comprehensive": "经劳动行政部门批准，乙方所在岗位实行综合计算工时工作制，平均每日工作时间不超过{daily}小时，平均每周工作时间不超过{weekly}小时，甲方保证乙方每周至少休息{rest}日。",
    "hours.flexible": "经劳动行政部门批准，乙方所在岗位实行不定时工作制，甲方采用集中工作、集中休息、轮休调休等方式保障乙方的休息休假权利，每周至少休息{rest}日。",
    "hours.overtime": "甲方因生产经营需要安排乙方延长工作时间的，应当与乙方协商并依法支付加班工资：工作日延长工作时间的，支付不低于工资的{workday}%；休息日安排工作又不能安排补休的，支付不低于工资的{rest_day}%；法定休假日安排工作的，支付不低于工资的{holiday}%。",
    "hours.leave_days": "乙方依法享受法定节假日、带薪年休假（每年{days}天）以及婚假、产假、丧假等假期。",
    "hours.leave_law": "乙方依法享受法定节假日、带薪年休假（按照《职工带薪年休假条例》执行）以及婚假、产假、丧假等假期。",
    # 4 pay
    "pay.title": "劳动报酬",
    "pay.wage": "乙方月工资为人民币{wage}元（大写：{wage_upper}）。",
    "pay.probation": "试用期月工资为人民币{prob}元（大写：{prob_upper}）。",
    "pay.schedule": "甲方于每月{day}日前以货币形式足额支付乙方上月工资，不得克扣或者无故拖欠；乙方在法定工作时间内提供正常劳动的，工资不低于当地最低工资标准。",
    # 5 social insurance
    "insurance.title": "社会保险和福利待遇",
    "insurance.text": "甲乙双方依法参加社会保险，甲方按时足额缴纳社会保险费；乙方个人应缴纳部分由甲方依法代扣代缴。乙方依法享受国家和本单位规定的福利待遇。",
    # 6 labour protection
    "protection.title": "劳动保护、劳动条件和职业危害防护",
    "protection.text": "甲方为乙方提供符合国家规定的劳动安全卫生条件和必要的劳动防护用品，对乙方进行安全生产和职业卫生教育培训，严格执行国家劳动安全卫生规程和标准。",
    "protection.hazards": "甲方已如实告知乙方工作岗位可能产生的职业危害及其后果：{hazards}；甲方采取相应防护措施，并依法组织职业健康检查。",
    "protection.no_hazards": "甲方已如实告知乙方工作内容、工作条件、工作地点、职业危害、安全生产状况和劳动报酬等情况。",
    # 7 service period
    "service.title": "专项培训和服务期",
    "service.text": "甲方为乙方提供专项培训费用人民币{cost}元，对乙方进行专业技术培训，乙方服务期为{months}个月。",
    "service.damages": "乙方违反服务期约定的，应当向甲方支付违约金，违约金数额不超过服务期尚未履行部分所应分摊的培训费用，且最高不超过人民币{amount}元。",
    # 8 non-compete
    "noncompete.title": "保密和竞业限制",
    "noncompete.text": "乙方应当保守甲方的商业秘密和与知识产权相关的保密事项。本合同解除或者终止后{months}个月内，乙方不得到与甲方生产或者经营同类产品、从事同类业务的有竞争关系的其他用人单位任职，也不得自己开业生产或者经营同类产品、从事同类业务。",
    "noncompete.compensation": "竞业限制期限内，甲方按月向乙方支付经济补偿人民币{amount}元。",
    "noncompete.no_compensation": "竞业限制期限内，甲方按月向乙方支付经济补偿，标准按照法律和司法解释的规定执行。",
    "noncompete.damages": "乙方违反竞业限制约定的，应当按照约定向甲方支付违约金人民币{amount}元。",
    # 9 change, termination
    "end.title": "劳动合同的变更、解除和终止",
    "end.text": "经甲乙双方协商一致，可以变更本合同约定的内容，变更应当采用书面形式。本合同的解除和终止依照《中华人民共和国劳动合同法》的有关规定执行；依法应当支付经济补偿的，甲方依法支付。本合同解除或者终止时，甲方应当出具解除或者终止劳动合同的证明，并在十五日内为乙方办理档案和社会保险关系转移手续。",
    # 10 additional
    "other.title": "双方约定的其他事项",
    "other.item": "（{n}）{text}",
    # 11 disputes
    "dispute.title": "劳动争议处理",
    "dispute.text": "因履行本合同发生劳动争议的，双方可以协商解决；不愿协商或者协商不成的，可以向劳动争议调解组织申请调解，也可以依法向劳动争议仲裁委员会申请仲裁；对仲裁裁决不服的，可以依法向人民法院提起诉讼。",
    # 12 form
    "form.title": "合同的订立形式",
    "form.text": "本合同以电子形式订立，甲乙双方使用可靠的电子签名签署，签署后的电子合同与手写签名或者盖章的纸质合同具有同等法律效力。电子签署完成后，乙方可以免费查看、下载本合同。本合同未尽事宜，依照国家有关法律法规执行。",
    "no_more_text": "（以下无正文）",
    "signature_page": "（本页为签署页，无正文）",
    "sign.employer": "甲方（电子签章）：",
    "sign.employee": "乙方（电子签名）：",
    "sign.note": "签署时间以电子签名中的可信时间戳为准。",
    "audit.title": "电子签署审计记录",
    "audit.intro": "本页为合同{no}的签署审计记录：签署完成后由签署系统填写本页方框内的内容并加盖电子签章。该签章覆盖本页和整份文件，签章后对文件的任何改动都能被检测到。",
    "footer": "第 {page} 页",
}
