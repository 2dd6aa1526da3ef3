-- middle_class_scholarship.lua: the Middle Class Scholarship (California
-- Education Code 70020-70023) for one award year.
--
-- Input: the Cal Grant example's {"student": {...}} (see
-- ../cal_grant/cal_grant.lua): dependency, income, assets, ca_resident,
-- ab540, citizenship, segment, application_date; plus, optionally,
-- ccc_baccalaureate (true for a community-college baccalaureate
-- program, which the scholarship also covers).
--
-- The income and asset ceilings, the segments that qualify and the
-- deadline are the award year's parameters (params/YYYY-YY.yaml).

-- true, false, or nil when the input does not say
local function resident(s)
  if s.ab540 == true then
    return true
  end
  local res
  if s.ca_resident ~= nil and s.citizenship ~= nil then
    res = s.ca_resident == true and
          (s.citizenship == "citizen" or s.citizenship == "eligible_noncitizen")
  end
  if res == true then
    return true
  end
  if s.ab540 == nil then
    return nil -- not a resident citizen, but perhaps AB 540
  end
  return res
end

-- true when the segment qualifies, nil when unknown
local function segment_ok(s, p)
  if s.segment == nil then
    return nil
  end
  for _, seg in ipairs(p.segments) do
    if seg == s.segment then
      return true
    end
  end
  return s.segment == "ccc" and s.ccc_baccalaureate == true
end

rule {
  id = "middle_class_scholarship",
  title = "Middle Class Scholarship",
  regulation = "Cal. Educ. Code 70020-70023",
  check = function(c, s, p)
    local st = s.student
    if not c:require("student", st ~= nil or nil, "student_missing",
        "the input has no student") then
      return
    end
    c:is_true("residency", resident(st), "not_california_resident",
      "not a California resident who is a citizen or eligible non-citizen, and not an AB 540 student",
      "ca_resident", st.ca_resident, "citizenship", st.citizenship,
      "ab540", st.ab540)
    c:is_true("segment", segment_ok(st, p), "segment_not_covered",
      "{segment} students are not covered (UC, CSU, or a community-college baccalaureate program)",
      "segment", st.segment, "ccc_baccalaureate", st.ccc_baccalaureate)
    c:on_or_before("application_date", st.application_date, p.deadline,
      "application_late", "applied on {date}, after the deadline of {deadline}")
    c:at_most("income", st.income, p.income_ceiling, "income_over_ceiling",
      "income ${value} is over the ceiling of ${maximum}")
    c:at_most("assets", st.assets, p.asset_ceiling, "assets_over_ceiling",
      "assets of ${value} are over the ceiling of ${maximum}")
  end,
}
