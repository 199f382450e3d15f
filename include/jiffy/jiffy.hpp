// jiffy/jiffy.hpp — everything jiffy offers, in one include.
#pragma once

#include <jiffy/allocator.hpp>
#include <jiffy/blocking.hpp>
#include <jiffy/io.hpp>
#include <jiffy/net.hpp>
#include <jiffy/options.hpp>
#include <jiffy/preempt.hpp>
#include <jiffy/runtime.hpp>
#include <jiffy/safe_points.hpp>
#include <jiffy/spinlock.hpp>
#include <jiffy/sync.hpp>
#include <jiffy/trace.hpp>
