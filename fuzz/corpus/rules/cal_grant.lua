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

local function known(set, v)
  if v == nil then
    return nil
  end
  return set[v] == true
end

-- The income ceiling row for s: the family-size rows for dependents
-- and for independents with dependents other than a spouse (the largest
-- row covers bigger families), else the single or married row.
local function income_row(s, p)
  local t = p.income_ceilings
  if s.dependency == "independent" and s.has_dependents ~= true then
    if s.has_dependents == nil or s.married == nil then
      return nil, "married and has_dependents are needed"
    end
    if s.married then
      return t.independent_married, "independent, married"
    end
    return t.independent_single, "independent, single"
  end
  if s.family_size == nil then
    return nil, "family_size is needed"
  end
  local best
  for _, row in ipairs(t.by_family_size) do
    if s.family_size >= row.family_size and
       (best == nil or row.family_size > best.family_size) then
      best = row
    end
  end
  if best == nil then
    return nil, "no ceiling row for a family of this size"
  end
  return best, "family of " .. best.family_size
end

-- What A, B and C share: residency, the deadline, the ceilings.
-- column: "a_c" or "b", the column of the income table.
local function common(c, s, p, column)
  c:is_true("residency", resident(s), "not_california_resident",
    "not a California resident who is a citizen or eligible non-citizen, " ..
    "and not an AB 540 student",
    "ca_resident", s.ca_resident, "citizenship", s.citizenship,
    "ab540", s.ab540)

  c:is_true("segment", known(segments, s.segment), "unknown_segment",
    "segment {segment} is not uc, csu, ccc or private",
    "segment", s.segment)
  local deadline = p.deadlines.standard
  if s.segment == "ccc" then
    deadline = p.deadlines.community_college
  end
  c:on_or_before("application_date", s.application_date, deadline,
    "application_late", "applied on {date}, after the deadline of {deadline}",
    "segment", s.segment)

  if not c:is_true("dependency", known(dependencies, s.dependency),
      "unknown_dependency", "dependency {dependency} is not dependent or " ..
      "independent", "dependency", s.dependency) then
    return
  end
  local row, why = income_row(s, p)
  if row == nil then
    c:review("income_row", "family_unknown",
      "cannot choose an income ceiling: " .. why,
      "family_size", s.family_size, "married", s.married,
      "has_dependents", s.has_dependents)
  else
    c:at_most("income", s.income, row[column], "income_over_ceiling",
      "income ${value} is over the ceiling of ${maximum} ({row})",
      "row", why, "family_size", s.family_size)
  end
  local assets_max = p.asset_ceilings.dependent
  if s.dependency == "independent" then
    assets_max = p.asset_ceilings.independent
  end
  c:at_most("assets", s.assets, assets_max, "assets_over_ceiling",
    "assets of ${value} are over the ceiling of ${maximum}",
    "dependency", s.dependency)
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
    "GPA below the minimum (high school {hs_gpa}, needs {hs_minimum}; " ..
    "college {college_gpa}, needs {college_minimum})",
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
    "age {age} on {on} is not under the transfer entitlement's limit " ..
    "of {limit}",
    "age", age, "on", dec31, "limit", p.transfer.age_limit,
    "birth_date", s.birth_date)
  c:at_least("transfer_gpa", s.college_gpa, p.transfer.min_college_gpa,
    "transfer_gpa_below_minimum",
    "community-college GPA {value} is below {minimum}")
end

local function student(c, s)
  local st = s.student
  c:require("student", st ~= nil or nil, "student_missing",
    "the input has no student")
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
    gpa(c, st, p.gpa.a_high_school, p.gpa.a_college)
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
    gpa(c, st, p.gpa.b, p.gpa.b)
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
