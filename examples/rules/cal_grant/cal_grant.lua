-- cal_grant.lua: Cal Grant A, B and C eligibility for one award year
-- (California Education Code 69430-69440; the California Student Aid
-- Commission's published ceilings).
--
-- Input: {"student": {...}} with dependency ("dependent" or
-- "independent"), married and has_dependents (for independents),
-- family_size, income and assets (whole dollars), hs_gpa and
-- college_gpa (numbers or null), ca_resident and ab540, citizenship
-- ("citizen", "eligible_noncitizen", "neither"), segment ("uc", "csu",
-- "ccc", "private"), program_months, application_date (YYYY-MM-DD).
-- Optional: transfer_entitlement (true for the transfer entitlement) and
-- birth_date.
--
-- Every figure (GPA minimums, ceilings, deadlines, ages) comes from p,
-- the award year's params/YYYY-YY.yaml; none is written here. Ceilings
-- are absolute: one dollar over is ineligible, exactly at it is
-- eligible.

local segments = {uc = true, csu = true, ccc = true, private = true}
local dependencies = {dependent = true, independent = true}

-- true, false, or nil when the input does not say
local function resident(ca_resident, citizenship, ab540)
  if ab540 == true then
    return true
  end
  local res
  if ca_resident ~= nil and citizenship ~= nil then
    res = ca_resident == true and
          (citizenship == "citizen" or citizenship == "eligible_noncitizen")
  end
  if res == true then
    return true
  end
  if ab540 == nil then
    return nil -- not a resident citizen, but perhaps AB 540
  end
  return res
end

local function known(set, v)
  if v == nil then
    return nil
  end
  return set[v] == true
end

-- The income ceiling row for s: the family-size rows for dependents
-- and for independents with dependents other than a spouse, else the
-- single or married row. The family-size rows are listed from the
-- largest family down, so the first row at or below the family's size
-- is its row (the largest covers bigger families).
local function income_row(s, dependency, t)
  if dependency == "independent" and s.has_dependents ~= true then
    local married = s.married
    if s.has_dependents == nil or married == nil then
      return nil, "married or has_dependents is missing"
    end
    if married then
      return t.independent_married, "independent married row"
    end
    return t.independent_single, "independent single row"
  end
  local size = s.family_size
  if size == nil then
    return nil, "family_size is missing"
  end
  for _, row in ipairs(t.by_family_size) do
    if size >= row.family_size then
      return row, "family size row"
    end
  end
  return nil, "no ceiling row for a family of this size"
end

-- What A, B and C share: residency, the segment and its deadline, the
-- dependency and the asset ceiling. It depends on the student and the
-- parameters alone, so it runs once per evaluation (c:once) and the
-- other rules get its checks as they are. True when the dependency is
-- known, which the income ceiling needs.
local function shared(c, s, p)
  local ca_resident, citizenship, ab540 = s.ca_resident, s.citizenship, s.ab540
  c:is_true("residency", resident(ca_resident, citizenship, ab540),
    "not_california_resident",
    "not a California resident who is a citizen or eligible non-citizen, and not an AB 540 student",
    "ca_resident", ca_resident, "citizenship", citizenship, "ab540", ab540)

  local segment = s.segment
  c:is_true("segment", known(segments, segment), "unknown_segment",
    "segment {segment} is not uc, csu, ccc or private", "segment", segment)
  local deadlines = p.deadlines
  local deadline = deadlines.standard
  if segment == "ccc" then
    deadline = deadlines.community_college
  end
  c:on_or_before("application_date", s.application_date, deadline,
    "application_late", "applied on {date}, after the deadline of {deadline}",
    "segment", segment)

  local dependency = s.dependency
  if not c:is_true("dependency", known(dependencies, dependency),
      "unknown_dependency", "dependency {dependency} is not dependent or independent",
      "dependency", dependency) then
    return false
  end
  local assets = p.asset_ceilings
  local assets_max = assets.dependent
  if dependency == "independent" then
    assets_max = assets.independent
  end
  c:at_most("assets", s.assets, assets_max, "assets_over_ceiling",
    "assets of ${value} are over the ceiling of ${maximum}",
    "dependency", dependency)
  return true
end

-- The income ceiling of the column ("a_c" for A and C, "b" for B).
local function income(c, s, p, column)
  local row, why = income_row(s, s.dependency, p.income_ceilings)
  if row == nil then
    c:review("income_row", "family_unknown",
      "cannot choose an income ceiling row: {why}", "why", why,
      "family_size", s.family_size, "married", s.married,
      "has_dependents", s.has_dependents)
  else
    c:at_most("income", s.income, row[column], "income_over_ceiling",
      "income ${value} is over the ceiling of ${maximum} ({row}, family size {family_size})",
      "row", why, "family_size", s.family_size)
  end
end

-- c:once keys: A and C share the A & C column's check.
local income_once = {a_c = "income_a_c", b = "income_b"}

-- The shared checks, then the income ceiling of the column.
local function common(c, s, p, column)
  if not c:once("shared", shared, s, p) then
    return
  end
  c:once(income_once[column], income, s, p, column)
end

-- A GPA of at least one kind meets its minimum (hs_min may be the
-- same as college_min). Both missing needs a person.
local function gpa(c, s, hs_min, college_min)
  local hs, col = s.hs_gpa, s.college_gpa
  if hs == nil and col == nil then
    c:review("gpa", "gpa_missing",
      "no high school or college GPA on file; a GPA is required")
    return
  end
  local ok = (hs ~= nil and hs >= hs_min) or (col ~= nil and col >= college_min)
  c:is_true("gpa", ok, "gpa_below_minimum",
    "GPA below the minimum (high school {hs_gpa}, needs {hs_minimum}; college {college_gpa}, needs {college_minimum})",
    "hs_gpa", hs, "hs_minimum", hs_min,
    "college_gpa", col, "college_minimum", college_min)
end

-- The transfer entitlement: under the age limit on December 31 of the
-- award year, with a community-college GPA at the minimum.
local function transfer(c, s, p)
  if s.transfer_entitlement ~= true then
    return
  end
  local dec31 = string.format("%d-12-31", c.year)
  local age = c:age(s.birth_date, dec31)
  local under
  if age ~= nil then
    under = age < p.transfer.age_limit
  end
  c:is_true("transfer_age", under, "transfer_age_limit",
    "age {age} on {on} is not under the transfer entitlement's limit of {limit}",
    "age", age, "on", dec31, "limit", p.transfer.age_limit,
    "birth_date", s.birth_date)
  c:at_least("transfer_gpa", s.college_gpa, p.transfer.min_college_gpa,
    "transfer_gpa_below_minimum",
    "community-college GPA {value} is below {minimum}")
end

-- The student, or nil after asking for a person.
local function student(c, s)
  local st = s.student
  if st == nil then
    c:review("student", "student_missing", "the input has no student")
  end
  return st
end

rule {
  id = "cal_grant_a",
  title = "Cal Grant A",
  regulation = "Cal. Educ. Code 69434; ceilings 69432.7(k)",
  check = function(c, s, p)
    local st = student(c, s)
    if st == nil then return end
    common(c, st, p, "a_c")
    local min = p.gpa
    gpa(c, st, min.a_high_school, min.a_college)
    transfer(c, st, p)
  end,
}

rule {
  id = "cal_grant_b",
  title = "Cal Grant B",
  regulation = "Cal. Educ. Code 69435; ceilings 69432.7(k)",
  check = function(c, s, p)
    local st = student(c, s)
    if st == nil then return end
    common(c, st, p, "b")
    local min = p.gpa.b
    gpa(c, st, min, min)
    transfer(c, st, p)
  end,
}

rule {
  id = "cal_grant_c",
  title = "Cal Grant C",
  regulation = "Cal. Educ. Code 69439; ceilings 69432.7(k)",
  check = function(c, s, p)
    local st = student(c, s)
    if st == nil then return end
    common(c, st, p, "a_c")
    c:at_least("program_months", st.program_months, p.program.c_min_months,
      "program_too_short",
      "a program of {value} months is shorter than {minimum} months")
  end,
}
